/**
 * Host byte order, detected once. The wire format is little-endian; typed-array views
 * use the host order, so they may only alias wire bytes on a little-endian host
 * (x86-64, arm64: every machine this runs on in practice). Elsewhere the codec falls
 * back to `DataView` reads and writes with an explicit little-endian flag.
 */
export const IS_LITTLE_ENDIAN: boolean = new Uint8Array(new Uint16Array([0x0102]).buffer)[0] === 0x02;

/**
 * A one-line progress display on stderr: redrawn in place on a terminal, printed at most
 * every few seconds otherwise (CI logs stay short).
 */
export class Progress {
  private last = 0;
  private readonly started = Date.now();
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(private readonly label: string) {}

  update(message: string): void {
    const now = Date.now();
    if (now - this.last < (this.tty ? 100 : 5000)) return;
    this.last = now;
    const line = `${this.label}: ${message} (${((now - this.started) / 1000).toFixed(1)} s)`;
    if (this.tty) process.stderr.write(`\r\x1b[K${line}`);
    else process.stderr.write(line + '\n');
  }

  done(message?: string): void {
    const secs = ((Date.now() - this.started) / 1000).toFixed(1);
    if (this.tty) process.stderr.write('\r\x1b[K');
    process.stderr.write(`${this.label}: ${message ?? 'done'} in ${secs} s\n`);
  }
}

/**
 * Channel settings shared by every server and client of the project, kept in one place
 * because the two sides must agree: a client that pings more often than the server
 * permits gets GOAWAY ENHANCE_YOUR_CALM "too_many_pings" (grpc/grpc-node#1164).
 */
import type { ChannelOptions } from '@grpc/grpc-js';

const MiB = 1024 * 1024;

/**
 * Largest message either side accepts. Hidden states travel as chunks under 4 MiB
 * (proxies with default limits still pass them); this cap leaves room for a whole
 * unembedding chunk or an encode batch, and refuses anything absurd with
 * RESOURCE_EXHAUSTED instead of buffering it.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * MiB;

/** Payload bytes per tensor chunk: 4 MiB minus headroom for the frame's other fields. */
export const MAX_CHUNK_BYTES = 4 * MiB - 64 * 1024;

export const keepalive = {
  /** Client pings after 30 s without activity: notices dead peers behind NAT/LBs. */
  clientTimeMs: 30_000,
  /** Ping ack wait. */
  timeoutMs: 10_000,
  /** Server accepts pings at most this often (must be <= clientTimeMs). */
  serverMinPingIntervalMs: 20_000,
  /** Server closes a connection idle this long; clients reconnect transparently. */
  serverMaxIdleMs: 5 * 60_000,
} as const;

export function serverChannelOptions(maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES): ChannelOptions {
  return {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.keepalive_time_ms': keepalive.clientTimeMs * 2,
    'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': keepalive.serverMinPingIntervalMs,
    'grpc.max_connection_idle_ms': keepalive.serverMaxIdleMs,
  };
}

export function clientChannelOptions(maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES): ChannelOptions {
  return {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.keepalive_time_ms': keepalive.clientTimeMs,
    'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.enable_retries': 1,
    // Transparent retries of UNAVAILABLE (server restarting, connection refused) for
    // every method; streams are retried only until their first response arrives, which
    // is what grpc's retry design allows.
    'grpc.service_config': JSON.stringify({
      // With a DNS name that resolves to several pods (a headless Service), spread
      // calls over all of them; grpc-js would otherwise pick the first and stay there.
      loadBalancingConfig: [{ round_robin: {} }],
      methodConfig: [{
        name: [{}],
        retryPolicy: {
          maxAttempts: 4,
          initialBackoff: '0.1s',
          maxBackoff: '2s',
          backoffMultiplier: 2,
          retryableStatusCodes: ['UNAVAILABLE'],
        },
      }],
    }),
  };
}

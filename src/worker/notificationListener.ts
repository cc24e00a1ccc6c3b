// The worker's own LISTEN connection: cancel signals (provisioner_job_canceled, sent by the trigger
// of migration 0041) and new-job wake-ups (provisioner_job_posted). It reconnects with exponential
// backoff when the connection breaks; after each reconnect the worker runs a heartbeat at once,
// which catches any cancel sent while it was away.
import type pg from "pg";
import { JOB_CANCELED_CHANNEL, JOB_POSTED_CHANNEL } from "./channels.ts";

export interface NotificationListenerOptions {
  /** A new, unconnected client for the LISTEN connection (never a pooled one). */
  readonly createClient: () => pg.Client;
  readonly onCanceled: (jobId: string) => void;
  /** `organizationId` is null when the payload does not say. */
  readonly onJobPosted: (organizationId: string | null) => void;
  readonly onReconnected: () => void;
  readonly onError: (error: unknown, context: string) => void;
  /** First retry delay in ms (doubling up to `maxBackoffMs`); default 100. */
  readonly initialBackoffMs?: number;
  /** Default 5000. */
  readonly maxBackoffMs?: number;
}

export class NotificationListener {
  private client: pg.Client | null = null;
  private closed = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly options: NotificationListenerOptions;

  constructor(options: NotificationListenerOptions) {
    this.options = options;
  }

  /** The backend pid of the current connection (tests kill it), or null while reconnecting. */
  get backendPid(): number | null {
    return (this.client as unknown as { processID?: number } | null)?.processID ?? null;
  }

  /** Connects and LISTENs; throws if that first attempt fails. */
  async start(): Promise<void> {
    await this.connect();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    const client = this.options.createClient();
    // Breaks before the LISTEN is in place are the caller's to handle (connect() rejects).
    let established = false;
    let broken = false;
    const onBroken = (error?: unknown) => {
      if (!established || broken) return;
      broken = true;
      if (this.client === client) this.client = null;
      client.removeAllListeners("notification");
      if (this.closed) return;
      if (error) this.options.onError(error, "the LISTEN connection broke");
      client.end().catch(() => {});
      this.scheduleReconnect();
    };
    client.on("error", onBroken);
    client.on("end", () => onBroken());
    client.on("notification", (msg) => this.dispatch(msg));
    try {
      await client.connect();
      await client.query(`LISTEN ${JOB_CANCELED_CHANNEL}; LISTEN ${JOB_POSTED_CHANNEL}`);
    } catch (error) {
      client.removeAllListeners();
      client.on("error", () => {});
      await client.end().catch(() => {});
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    established = true;
  }

  private scheduleReconnect(): void {
    const initial = this.options.initialBackoffMs ?? 100;
    const max = this.options.maxBackoffMs ?? 5000;
    const delay = Math.min(max, initial * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.closed) return;
      this.connect().then(
        () => {
          this.attempt = 0;
          if (!this.closed) this.options.onReconnected();
        },
        (error) => {
          this.options.onError(error, "reconnecting the LISTEN connection failed");
          if (!this.closed) this.scheduleReconnect();
        },
      );
    }, delay);
  }

  private dispatch(msg: pg.Notification): void {
    if (msg.channel === JOB_CANCELED_CHANNEL) {
      if (msg.payload) this.options.onCanceled(msg.payload);
      return;
    }
    if (msg.channel === JOB_POSTED_CHANNEL) {
      let organizationId: string | null = null;
      try {
        const payload = JSON.parse(msg.payload ?? "{}") as { organization_id?: unknown };
        if (typeof payload.organization_id === "string") organizationId = payload.organization_id;
      } catch {
        // A malformed payload still means "there may be work".
      }
      this.options.onJobPosted(organizationId);
    }
  }
}

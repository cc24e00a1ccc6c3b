// The demo's own defaults where the operator set nothing (a short interval and backoff, a free
// local port): demo.ts applies them and `prebuildsd demo --help` shows them, both from here.
import { formatDuration } from "../config/duration.ts";
import type { ListenAddress, SettingKey } from "../config/settings.ts";

export const DEMO_INTERVAL_MS = 3000;
/** A failed build holds a preset back for seconds, not the minute it would in production. */
export const DEMO_BACKOFF_INTERVAL_MS = 10_000;
/** Port 0: the system picks a free one; the demo prints the URLs at start. */
export const DEMO_HTTP_ADDRESS: ListenAddress = { host: "127.0.0.1", port: 0 };

/** What `demo --help` gives as the default of each setting the demo sets differently. */
export const DEMO_DEFAULT_TEXT = {
  reconciliationInterval: formatDuration(DEMO_INTERVAL_MS),
  backoffInterval: formatDuration(DEMO_BACKOFF_INTERVAL_MS),
  httpAddress: `${DEMO_HTTP_ADDRESS.host} on a free port, printed at start`,
} as const satisfies Partial<Record<SettingKey, string>>;

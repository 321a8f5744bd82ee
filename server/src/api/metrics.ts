/**
 * Prometheus text exposition (format 0.0.4), hand-written: a registry of collectors that
 * each return metric families at scrape time, so any module (telemetry, rollouts, the
 * compressor) adds its own without a client library.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface MetricSample {
  readonly labels?: Readonly<Record<string, string>>;
  readonly value: number;
  /** Suffix for histogram/summary parts, e.g. `_bucket`, `_sum`, `_count`. */
  readonly suffix?: string;
}

export interface MetricFamily {
  /** `edgefleet_<area>_<what>_<unit>`, counters end in `_total`. */
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly samples: readonly MetricSample[];
}

/** Returns the families at scrape time; may read the store, so it may be async. */
export type MetricCollector = () => readonly MetricFamily[] | Promise<readonly MetricFamily[]>;

export interface MetricsRegistry {
  /** Adds a collector; returns a function that removes it. */
  register(collector: MetricCollector): () => void;
  /** Renders every family; a collector that fails is skipped (and reported) so a scrape never fails. */
  render(): Promise<string>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** One family as exposition text (HELP, TYPE, then one line per sample). */
export function renderFamily(family: MetricFamily): string {
  if (!NAME.test(family.name)) throw new TypeError(`invalid metric name ${JSON.stringify(family.name)}`);
  const lines = [
    `# HELP ${family.name} ${family.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`,
    `# TYPE ${family.name} ${family.type}`,
  ];
  for (const sample of family.samples) {
    const labels = Object.entries(sample.labels ?? {});
    const labelText = labels.length === 0 ? '' : `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
    lines.push(`${family.name}${sample.suffix ?? ''}${labelText} ${formatValue(sample.value)}`);
  }
  return lines.join('\n');
}

export function createMetricsRegistry(onCollectorError?: (err: unknown) => void): MetricsRegistry {
  const collectors = new Set<MetricCollector>();
  return {
    register(collector) {
      collectors.add(collector);
      return () => {
        collectors.delete(collector);
      };
    },
    async render() {
      const parts: string[] = [];
      for (const collector of collectors) {
        try {
          for (const family of await collector()) parts.push(renderFamily(family));
        } catch (err: unknown) {
          onCollectorError?.(err);
        }
      }
      return `${parts.join('\n')}\n`;
    },
  };
}

/** A labelled counter kept in memory, exposed as one family. */
export interface LabelledCounter {
  inc(labels: Readonly<Record<string, string>>, by?: number): void;
  family(): MetricFamily;
}

export function createLabelledCounter(name: string, help: string): LabelledCounter {
  const values = new Map<string, { labels: Record<string, string>; value: number }>();
  return {
    inc(labels, by = 1) {
      const key = JSON.stringify(Object.entries(labels).sort());
      const entry = values.get(key) ?? { labels: { ...labels }, value: 0 };
      entry.value += by;
      values.set(key, entry);
    },
    family: () => ({
      name,
      help,
      type: 'counter',
      samples: [...values.values()].map((e) => ({ labels: e.labels, value: e.value })),
    }),
  };
}

/** A labelled histogram kept in memory (cumulative `le` buckets, `_sum`, `_count`), exposed as one family. */
export interface LabelledHistogram {
  observe(labels: Readonly<Record<string, string>>, value: number): void;
  family(): MetricFamily;
}

/** `buckets`: upper bounds, ascending; `+Inf` is added. */
export function createLabelledHistogram(name: string, help: string, buckets: readonly number[]): LabelledHistogram {
  const series = new Map<string, { labels: Record<string, string>; counts: number[]; sum: number; count: number }>();
  return {
    observe(labels, value) {
      const key = JSON.stringify(Object.entries(labels).sort());
      const entry = series.get(key) ?? { labels: { ...labels }, counts: buckets.map(() => 0), sum: 0, count: 0 };
      buckets.forEach((le, i) => {
        if (value <= le) entry.counts[i] = (entry.counts[i] ?? 0) + 1;
      });
      entry.sum += value;
      entry.count += 1;
      series.set(key, entry);
    },
    family() {
      const samples: MetricSample[] = [];
      for (const e of series.values()) {
        buckets.forEach((le, i) => {
          samples.push({ labels: { ...e.labels, le: String(le) }, value: e.counts[i] ?? 0, suffix: '_bucket' });
        });
        samples.push(
          { labels: { ...e.labels, le: '+Inf' }, value: e.count, suffix: '_bucket' },
          { labels: e.labels, value: e.sum, suffix: '_sum' },
          { labels: e.labels, value: e.count, suffix: '_count' },
        );
      }
      return { name, help, type: 'histogram', samples };
    },
  };
}

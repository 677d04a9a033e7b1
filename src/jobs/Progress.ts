/** What a running job reports about how far it is. Stored as JSON, streamed to handles. */
export type Progress<S = unknown> =
  | { readonly _tag: "Percentage"; readonly value: number }
  | { readonly _tag: "Structured"; readonly data: S }
  | { readonly _tag: "Indeterminate"; readonly message?: string }
  | { readonly _tag: "Count"; readonly done: number; readonly total: number }

const clamp01 = (n: number) => (Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0)

/** Constructors for `Progress`. */
export const Progress = {
  /** A fraction of the work, 0..1 (clamped). */
  percentage: (value: number): Progress<never> => ({ _tag: "Percentage", value: clamp01(value) }),
  /** Job-specific data, typed by the job's `progress` schema. */
  structured: <S>(data: S): Progress<S> => ({ _tag: "Structured", data }),
  /** Work whose size is unknown, with an optional message. */
  indeterminate: (message?: string): Progress<never> =>
    message === undefined ? { _tag: "Indeterminate" } : { _tag: "Indeterminate", message },
  /** `done` out of `total` items. */
  count: (done: number, total: number): Progress<never> => ({ _tag: "Count", done, total }),
  /** The 0..1 fraction a progress value stands for, when it has one (stored in the `progress` column). */
  fraction: (p: Progress<unknown>): number | null => {
    switch (p._tag) {
      case "Percentage":
        return p.value
      case "Count":
        return p.total > 0 ? clamp01(p.done / p.total) : null
      case "Structured": {
        // As the dashboard reads it: a fraction, a percent, or done out of total.
        const d = p.data as { fraction?: unknown; percent?: unknown; done?: unknown; total?: unknown } | null
        if (d === null || typeof d !== "object") return null
        if (typeof d.fraction === "number") return clamp01(d.fraction)
        if (typeof d.percent === "number") return clamp01(d.percent / 100)
        if (typeof d.done === "number" && typeof d.total === "number" && d.total > 0) return clamp01(d.done / d.total)
        return null
      }
      case "Indeterminate":
        return null
    }
  },
}

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
        const d = p.data as { fraction?: unknown } | null
        return d && typeof d.fraction === "number" ? clamp01(d.fraction) : null
      }
      case "Indeterminate":
        return null
    }
  },
}

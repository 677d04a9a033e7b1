// The part of madge's API (madge 8; it ships no types) that test/layers.test.ts uses.
declare module "madge" {
  interface MadgeResult {
    /** Each file (relative to the folder given) and the files it imports. */
    obj(): Record<string, string[]>
    /** Every import cycle, as the files in it. */
    circular(): string[][]
    /** What could not be resolved to a file: packages, and any local import gone astray. */
    warnings(): { skipped: string[] }
  }
  interface MadgeConfig {
    fileExtensions?: string[]
    tsConfig?: string | object
    detectiveOptions?: Record<string, Record<string, unknown>>
    [option: string]: unknown
  }
  export default function madge(path: string | string[], config?: MadgeConfig): Promise<MadgeResult>
}

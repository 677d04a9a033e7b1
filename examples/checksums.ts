import { createHash } from "node:crypto"
import { createReadStream } from "node:fs"
import { Data, Effect, Schema } from "effect"
import { defineJob, Progress } from "jobstate"

class ReadFailed extends Data.TaggedError("ReadFailed")<{ readonly path: string; readonly message: string }> {}

const sha256 = (path: string) =>
  Effect.tryPromise({
    try: async (signal) => {
      const hash = createHash("sha256")
      for await (const chunk of createReadStream(path, { signal })) hash.update(chunk)
      return hash.digest("hex")
    },
    catch: (e) => new ReadFailed({ path, message: String((e as Error).message) }),
  })

/** Hashes files one by one; a resumed job starts at the first file it has not hashed. */
export const ChecksumJob = defineJob({
  name: "checksums",
  description: "SHA-256 of each file",
  params: Schema.Struct({ files: Schema.Array(Schema.String) }),
  state: Schema.Struct({ sums: Schema.Record(Schema.String, Schema.String) }),
  initialState: () => ({ sums: {} }),
  output: Schema.Struct({ sums: Schema.Record(Schema.String, Schema.String) }),
  progress: Schema.Struct({ done: Schema.Number, total: Schema.Number, current: Schema.String }),
  run: (ctx) =>
    Effect.gen(function* () {
      const { files } = ctx.params
      for (const [i, file] of files.entries()) {
        if (file in ctx.state.sums) continue // done before a pause or a crash
        yield* ctx.checkInterrupt // pause and cancel take effect here
        const sum = yield* sha256(file)
        yield* ctx.checkpoint({ sums: { ...ctx.state.sums, [file]: sum } })
        yield* ctx.progress(Progress.structured({ done: i + 1, total: files.length, current: file }))
      }
      yield* ctx.log(`hashed ${files.length} files`)
      return { sums: ctx.state.sums }
    }),
})

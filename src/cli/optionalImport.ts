import { UsageError } from "./errors.js"

/**
 * Imports a package that only one command needs and that jobstate lists as an optional peer
 * dependency (tsx, @statelyai/inspect), so an app that embeds jobstate does not install it.
 * A missing package is one line that says what to install, not a stack trace.
 */
export const optionalImport = async <M>(load: () => Promise<M>, pkg: string, neededFor: string): Promise<M> => {
  try {
    return await load()
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === "ERR_MODULE_NOT_FOUND" && String((error as Error).message).includes(`'${pkg}`)) {
      throw new UsageError({
        detail: `${neededFor} needs ${pkg}, an optional peer dependency of jobstate: npm install ${pkg}`,
      })
    }
    throw error
  }
}

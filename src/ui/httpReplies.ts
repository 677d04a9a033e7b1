import type { IncomingMessage, ServerResponse } from "node:http"

/** A request the dashboard refuses: its status and a message the page shows as it is. */
export class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** More for the client, e.g. `issues` of invalid params. */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message)
  }
}

// Nothing the dashboard serves may be framed by another site or sniffed as another type.
const commonHeaders = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
}

export const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, {
    ...commonHeaders,
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    ...headers,
  })
  res.end(JSON.stringify(body))
}

export const sendError = (res: ServerResponse, refusal: HttpRefusal) =>
  sendJson(res, refusal.status, { error: refusal.message, status: refusal.status, ...refusal.extra })

export const sendText = (
  res: ServerResponse,
  status: number,
  type: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
) => {
  res.writeHead(status, { ...commonHeaders, "content-type": type, ...headers })
  res.end(body)
}

const MAX_BODY = 8 * 1024 * 1024

/** The request's body as text, at most 8 MiB (a recording to replay may be large). */
export const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_BODY) {
        reject(new HttpRefusal(413, `The request body is larger than ${MAX_BODY} bytes`))
        req.destroy()
      } else chunks.push(chunk)
    })
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", reject)
  })

/** The body as JSON; anything else is a 400 that says where it broke. */
export const readJson = async (req: IncomingMessage): Promise<unknown> => {
  const text = await readBody(req)
  if (text.trim() === "") return {}
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new HttpRefusal(400, `The request body is not valid JSON: ${(error as Error).message}`)
  }
}

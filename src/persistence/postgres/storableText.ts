/**
 * PostgreSQL `text` cannot hold NUL (U+0000), which SQLite and JavaScript strings can. Free
 * text that reaches the store as is (a log line, an error message) has its NULs replaced by
 * U+FFFD, so one odd character cannot fail a whole group commit. JSON columns need nothing:
 * `JSON.stringify` writes NUL as the escape `\u0000`.
 */
export const storableText = (text: string): string => (text.includes("\0") ? text.replaceAll("\0", "\uFFFD") : text)

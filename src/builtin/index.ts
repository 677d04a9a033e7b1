/**
 * jobstate/builtin: the two built-in job types, application code written on jobstate's public
 * API. A separate entry point: `jobstate` itself never loads it.
 */

/** `file_copy`: copies files and directory trees, resumable within a large file. */
export { FileCopyJob } from "./fileCopy.js"
/** `indexer`: indexes a directory into a SQLite file of its own (metadata, content hashes, types). */
export { IndexerJob } from "./indexer.js"

/**
 * jobstate/dashboard: the web dashboard. A separate entry point: `jobstate` itself never loads it.
 *
 * A Node HTTP handler: `http.createServer(dashboard(manager)).listen(8080, "127.0.0.1")`, or mount
 * it in an app (`{ basePath: "/admin/jobs" }`, or a router that strips its prefix). Offline; `token` guards it.
 */
export { dashboard, type DashboardOptions, type DashboardHandler } from "./dashboard.js"

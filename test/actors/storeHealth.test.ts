import { describe, expect, it } from "vitest"
import { StoreHealth } from "../../src/actors/StoreHealth.js"
import { PersistenceError, StoreRecovered } from "../../src/jobs/errors.js"

const failure = (operation: string, detail: string, code = "ECONNREFUSED") =>
  new PersistenceError({ operation, reason: "Read", detail, cause: Object.assign(new Error(detail), { code }) })

describe("StoreHealth: what onError hears of an outage", () => {
  it("reports the first failure of each kind, counts the rest, and says once when calls go through again", () => {
    let now = 0
    const heard: unknown[] = []
    const health = new StoreHealth(
      (e) => heard.push(e),
      () => now,
    )
    // An outage: every timer meets it, ten times a second, on different ports and operations.
    for (let i = 0; i < 100; i++) {
      now += 100
      health.error(failure(i % 2 ? "requests" : "commit", `connect ECONNREFUSED 127.0.0.1:${5432 + (i % 3)}`))
      if (i === 50) health.error(failure("commit", "the database system is shutting down", "57P03"))
    }
    expect(heard.map((e) => (e as PersistenceError).detail)).toEqual([
      "connect ECONNREFUSED 127.0.0.1:5432",
      "the database system is shutting down",
    ])
    expect(health.failing).toBeInstanceOf(PersistenceError)
    // A call goes through: the store answers (commands need not fail fast), but the outage ends
    // only once calls have gone through for a while with none failing.
    now += 100
    health.ok()
    expect(health.failing).toBeUndefined()
    expect(heard).toHaveLength(2)
    now += 2_000
    health.ok()
    expect(heard).toHaveLength(3)
    const recovered = heard[2] as StoreRecovered
    expect(recovered).toBeInstanceOf(StoreRecovered)
    // From the first failure (at 100) to the first call that went through (at 10 100).
    expect({ downMs: recovered.downMs, failures: recovered.failures, unreported: recovered.unreported }).toEqual({
      downMs: 10_000,
      failures: 101,
      unreported: 99,
    })
    expect(recovered.message).toBe(
      "The store answers again: calls failed for 10.0 s (101 calls, 99 calls not reported one by one)",
    )
    health.ok()
    expect(heard).toHaveLength(3)
  })

  it("says an outage calls have come through has ended when the manager closes, not never; one they have not, it leaves unsaid", () => {
    let now = 0
    const heard: unknown[] = []
    const health = new StoreHealth(
      (e) => heard.push(e),
      () => now,
    )
    health.error(failure("commit", "connect ECONNREFUSED 127.0.0.1:5432"))
    health.settle()
    expect(heard).toHaveLength(1)
    now += 500
    health.ok()
    health.settle()
    expect((heard[1] as StoreRecovered).message).toBe(
      "The store answers again: calls failed for 0.5 s (1 call, each reported)",
    )
  })

  it("passes any other error through at once, every time", () => {
    const heard: unknown[] = []
    const health = new StoreHealth((e) => heard.push(e))
    const bug = new TypeError("a bug")
    health.error(bug)
    health.error(bug)
    // A refusal that would fail again (a constraint, a trigger) is no outage.
    health.error(failure("commit", "completion refused by the test", "SQLITE_CONSTRAINT_TRIGGER"))
    health.error(failure("commit", "completion refused by the test", "SQLITE_CONSTRAINT_TRIGGER"))
    expect(heard).toHaveLength(4)
    expect(health.failing).toBeUndefined()
  })
})

/** References to GitHub things, as Porter needs them. */
import { Schema } from "effect"

const Segment = Schema.String.pipe(Schema.check(Schema.isPattern(/^[A-Za-z0-9_.-]{1,100}$/)))

/** A repository: owner and name. */
export class RepoRef extends Schema.Class<RepoRef>("@porter/core/RepoRef")({
  owner: Segment,
  name: Segment
}) {
  get fullName(): string {
    return `${this.owner}/${this.name}`
  }
  /** `owner/name` → RepoRef, or undefined when it is not a repository name. */
  static fromFullName(fullName: string): RepoRef | undefined {
    const match = /^([A-Za-z0-9_.-]{1,100})\/([A-Za-z0-9_.-]{1,100})$/.exec(fullName)
    return match ? new RepoRef({ owner: match[1]!, name: match[2]! }) : undefined
  }
}

/** An issue or pull request of a repository. */
export class IssueRef extends Schema.Class<IssueRef>("@porter/core/IssueRef")({
  repo: RepoRef,
  number: Schema.Int.pipe(Schema.check(Schema.isGreaterThan(0)))
}) {
  get key(): string {
    return `${this.repo.fullName}#${this.number}`
  }
}

/** A GitHub account. `id` is GitHub's stable numeric id; `login` can change. */
export class Actor extends Schema.Class<Actor>("@porter/core/Actor")({
  login: Schema.String,
  id: Schema.Int,
  /** GitHub's account type: "User", "Bot", "Organization". */
  type: Schema.String
}) {
  get isBot(): boolean {
    return this.type === "Bot" || this.login.endsWith("[bot]")
  }
}

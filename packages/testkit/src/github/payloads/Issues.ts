/**
 * GitHub's JSON for issues, comments, reactions and labels, and for pull requests and their review
 * comments (`pull-request-simple` in lists, `pull-request` with the counts read from git).
 */
import { iso } from "../Http.ts"
import type { Issue, IssueComment, Label, Reaction, ReactionSubject, Repo, ReviewComment, State } from "../State.ts"
import { REACTIONS } from "../State.ts"
import type { AccountPayloads } from "./Accounts.ts"

/** What a pull request's JSON needs from git. */
export interface PullGit {
  readonly headSha: string
  readonly baseSha: string
  readonly commits: number
  readonly additions: number
  readonly deletions: number
  readonly changedFiles: number
}

const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms))

export const makeIssuePayloads = (state: State, accounts: AccountPayloads) => {
  const { authorAssociation, integration, repoHtml, repoUrl, repository, user } = accounts

  const label = (repo: Repo, value: Label) => ({
    id: value.id,
    node_id: value.nodeId,
    url: `${repoUrl(repo)}/labels/${encodeURIComponent(value.name)}`,
    name: value.name,
    color: value.color,
    default: value.isDefault,
    description: value.description
  })

  const reactionRollup = (subject: ReactionSubject, url: string) => {
    const all = state.reactionsOf(subject)
    const rollup: Record<string, number | string> = { url, total_count: all.length }
    for (const content of REACTIONS) rollup[content] = all.filter((reaction) => reaction.content === content).length
    return rollup
  }

  const issueUrl = (issue: Issue) => `${repoUrl(issue.repo)}/issues/${issue.number}`
  const issueHtml = (issue: Issue) => `${repoHtml(issue.repo)}/${issue.pull ? "pull" : "issues"}/${issue.number}`
  const pullUrl = (issue: Issue) => `${repoUrl(issue.repo)}/pulls/${issue.number}`

  const issue = (value: Issue, options: { readonly closedBy?: boolean } = {}) => {
    const url = issueUrl(value)
    return {
      url,
      repository_url: repoUrl(value.repo),
      labels_url: `${url}/labels{/name}`,
      comments_url: `${url}/comments`,
      events_url: `${url}/events`,
      html_url: issueHtml(value),
      id: value.id,
      node_id: value.nodeId,
      number: value.number,
      title: value.title,
      user: user(value.author),
      labels: value.labels.map((entry) => label(value.repo, entry)),
      state: value.state,
      locked: value.locked,
      assignee: null,
      assignees: [],
      milestone: null,
      comments: state.commentsOf(value).length,
      created_at: iso(value.createdAt),
      updated_at: iso(value.updatedAt),
      closed_at: isoOrNull(value.closedAt),
      author_association: authorAssociation(value.author, value.repo),
      type: null,
      active_lock_reason: null,
      ...(value.pull
        ? {
          draft: value.pull.draft,
          pull_request: {
            url: pullUrl(value),
            html_url: issueHtml(value),
            diff_url: `${issueHtml(value)}.diff`,
            patch_url: `${issueHtml(value)}.patch`,
            merged_at: isoOrNull(value.pull.mergedAt)
          }
        }
        : {}),
      body: value.body,
      ...(options.closedBy ? { closed_by: value.closedBy ? user(value.closedBy) : null } : {}),
      reactions: reactionRollup({ _tag: "Issue", id: value.id }, `${url}/reactions`),
      timeline_url: `${url}/timeline`,
      performed_via_github_app: value.viaApp ? integration(state.app) : null,
      state_reason: value.stateReason
    }
  }

  const issueComment = (comment: IssueComment) => {
    const url = `${repoUrl(comment.issue.repo)}/issues/comments/${comment.id}`
    return {
      url,
      html_url: `${issueHtml(comment.issue)}#issuecomment-${comment.id}`,
      issue_url: issueUrl(comment.issue),
      id: comment.id,
      node_id: comment.nodeId,
      user: user(comment.author),
      created_at: iso(comment.createdAt),
      updated_at: iso(comment.updatedAt),
      author_association: authorAssociation(comment.author, comment.issue.repo),
      body: comment.body,
      reactions: reactionRollup({ _tag: "IssueComment", id: comment.id }, `${url}/reactions`),
      performed_via_github_app: comment.viaApp ? integration(state.app) : null
    }
  }

  const reaction = (value: Reaction) => ({
    id: value.id,
    node_id: value.nodeId,
    user: user(value.user),
    content: value.content,
    created_at: iso(value.createdAt)
  })

  const branchEnd = (repo: Repo, ref: string, sha: string) => ({
    label: `${repo.owner.login}:${ref}`,
    ref,
    sha,
    user: user(repo.owner),
    repo: repository(repo)
  })

  const pullLinks = (value: Issue) => {
    const url = pullUrl(value)
    return {
      self: { href: url },
      html: { href: issueHtml(value) },
      issue: { href: issueUrl(value) },
      comments: { href: `${issueUrl(value)}/comments` },
      review_comments: { href: `${url}/comments` },
      review_comment: { href: `${repoUrl(value.repo)}/pulls/comments{/number}` },
      commits: { href: `${url}/commits` },
      statuses: { href: `${repoUrl(value.repo)}/statuses/${value.pull!.headSha}` }
    }
  }

  /** `pull-request-simple` (lists); `pull` adds the counts for a single pull request. */
  const pullSimple = (value: Issue) => {
    const pr = value.pull!
    const url = pullUrl(value)
    return {
      url,
      id: value.pullId,
      node_id: value.nodeId,
      html_url: issueHtml(value),
      diff_url: `${issueHtml(value)}.diff`,
      patch_url: `${issueHtml(value)}.patch`,
      issue_url: issueUrl(value),
      number: value.number,
      state: value.state,
      locked: value.locked,
      title: value.title,
      user: user(value.author),
      body: value.body,
      created_at: iso(value.createdAt),
      updated_at: iso(value.updatedAt),
      closed_at: isoOrNull(value.closedAt),
      merged_at: isoOrNull(pr.mergedAt),
      merge_commit_sha: null,
      assignee: null,
      assignees: [],
      requested_reviewers: [],
      requested_teams: [],
      labels: value.labels.map((entry) => label(value.repo, entry)),
      milestone: null,
      draft: pr.draft,
      commits_url: `${url}/commits`,
      review_comments_url: `${url}/comments`,
      review_comment_url: `${repoUrl(value.repo)}/pulls/comments{/number}`,
      comments_url: `${issueUrl(value)}/comments`,
      statuses_url: `${repoUrl(value.repo)}/statuses/${pr.headSha}`,
      head: branchEnd(pr.headRepo, pr.headRef, pr.headSha),
      base: branchEnd(value.repo, pr.baseRef, pr.baseSha),
      _links: pullLinks(value),
      author_association: authorAssociation(value.author, value.repo),
      auto_merge: null,
      active_lock_reason: null
    }
  }

  const pull = (value: Issue, git: PullGit) => ({
    ...pullSimple(value),
    merged: value.pull!.merged,
    mergeable: null,
    rebaseable: null,
    mergeable_state: "unknown",
    merged_by: null,
    comments: state.commentsOf(value).length,
    review_comments: state.reviewComments().filter((comment) => comment.issue === value).length,
    maintainer_can_modify: value.pull!.maintainerCanModify,
    commits: git.commits,
    additions: git.additions,
    deletions: git.deletions,
    changed_files: git.changedFiles
  })

  const reviewComment = (comment: ReviewComment) => {
    const url = `${repoUrl(comment.issue.repo)}/pulls/comments/${comment.id}`
    const html = `${issueHtml(comment.issue)}#discussion_r${comment.id}`
    return {
      url,
      pull_request_review_id: comment.reviewId,
      id: comment.id,
      node_id: comment.nodeId,
      diff_hunk: comment.diffHunk,
      path: comment.path,
      position: comment.line,
      original_position: comment.line,
      commit_id: comment.commitId,
      original_commit_id: comment.commitId,
      ...(comment.inReplyToId === undefined ? {} : { in_reply_to_id: comment.inReplyToId }),
      user: user(comment.author),
      body: comment.body,
      created_at: iso(comment.createdAt),
      updated_at: iso(comment.updatedAt),
      html_url: html,
      pull_request_url: pullUrl(comment.issue),
      author_association: authorAssociation(comment.author, comment.issue.repo),
      _links: {
        self: { href: url },
        html: { href: html },
        pull_request: { href: pullUrl(comment.issue) }
      },
      reactions: reactionRollup({ _tag: "ReviewComment", id: comment.id }, `${url}/reactions`),
      start_line: comment.startLine,
      original_start_line: comment.startLine,
      start_side: comment.startSide,
      line: comment.line,
      original_line: comment.line,
      side: comment.side,
      subject_type: comment.subjectType,
      performed_via_github_app: comment.viaApp ? integration(state.app) : null
    }
  }

  return { label, issue, issueComment, reaction, pullSimple, pull, reviewComment, issueHtml }
}

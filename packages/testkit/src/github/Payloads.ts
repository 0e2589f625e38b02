/**
 * GitHub's JSON representations of the emulator's records — the same fields GitHub returns, so
 * responses and webhook payloads validate against GitHub's published OpenAPI description.
 *
 * URLs: the emulator is both the API root and the "web" host: `url` fields are
 * `${base}/repos/o/r/…` (like GitHub Enterprise's API without `/api/v3`) and `html_url` fields are
 * `${base}/o/r/…`.
 */
import type { CommitInfo, FileChange } from "./Git.ts"
import { iso } from "./Http.ts"
import type {
  Account,
  App,
  Installation,
  Issue,
  IssueComment,
  Label,
  Reaction,
  ReactionSubject,
  Repo,
  ReviewComment,
  RoleOrNone,
  State
} from "./State.ts"
import { atLeast, REACTIONS } from "./State.ts"

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

export const makePayloads = (state: State, base: string) => {
  const api = base
  const web = base

  const user = (account: Account) => {
    // GitHub percent-encodes logins in URLs (`porter%5Bbot%5D`).
    const url = `${api}/users/${encodeURIComponent(account.login)}`
    return {
      login: account.login,
      id: account.id,
      node_id: account.nodeId,
      avatar_url: `${web}/_emulator/avatars/${account.id}`,
      gravatar_id: "",
      url,
      html_url: account.type === "Bot"
        ? `${web}/apps/${account.login.replace(/\[bot\]$/, "")}`
        : `${web}/${account.login}`,
      followers_url: `${url}/followers`,
      following_url: `${url}/following{/other_user}`,
      gists_url: `${url}/gists{/gist_id}`,
      starred_url: `${url}/starred{/owner}{/repo}`,
      subscriptions_url: `${url}/subscriptions`,
      organizations_url: `${url}/orgs`,
      repos_url: `${url}/repos`,
      events_url: `${url}/events{/privacy}`,
      received_events_url: `${url}/received_events`,
      type: account.type,
      user_view_type: "public",
      site_admin: account.siteAdmin
    }
  }

  const privateUser = (account: Account) => ({
    ...user(account),
    name: null,
    company: null,
    blog: "",
    location: null,
    email: null,
    hireable: null,
    bio: null,
    twitter_username: null,
    public_repos: state.repos().filter((repo) => repo.owner.id === account.id && !repo.private).length,
    public_gists: 0,
    followers: 0,
    following: 0,
    created_at: iso(account.createdAt),
    updated_at: iso(account.createdAt),
    private_gists: 0,
    total_private_repos: state.repos().filter((repo) => repo.owner.id === account.id && repo.private).length,
    owned_private_repos: state.repos().filter((repo) => repo.owner.id === account.id && repo.private).length,
    disk_usage: 0,
    collaborators: 0,
    two_factor_authentication: false,
    plan: { name: "free", space: 976562499, private_repos: 10000, collaborators: 0 }
  })

  const permissionsOf = (role: RoleOrNone) => ({
    admin: atLeast(role, "admin"),
    maintain: atLeast(role, "maintain"),
    push: atLeast(role, "write"),
    triage: atLeast(role, "triage"),
    pull: atLeast(role, "read")
  })

  const repository = (repo: Repo, role?: RoleOrNone) => {
    const full = `${repo.owner.login}/${repo.name}`
    const url = `${api}/repos/${full}`
    const openIssues = state.issuesOf(repo).filter((issue) => issue.state === "open").length
    return {
      id: repo.id,
      node_id: repo.nodeId,
      name: repo.name,
      full_name: full,
      private: repo.private,
      owner: user(repo.owner),
      html_url: `${web}/${full}`,
      description: repo.description,
      fork: false,
      url,
      forks_url: `${url}/forks`,
      keys_url: `${url}/keys{/key_id}`,
      collaborators_url: `${url}/collaborators{/collaborator}`,
      teams_url: `${url}/teams`,
      hooks_url: `${url}/hooks`,
      issue_events_url: `${url}/issues/events{/number}`,
      events_url: `${url}/events`,
      assignees_url: `${url}/assignees{/user}`,
      branches_url: `${url}/branches{/branch}`,
      tags_url: `${url}/tags`,
      blobs_url: `${url}/git/blobs{/sha}`,
      git_tags_url: `${url}/git/tags{/sha}`,
      git_refs_url: `${url}/git/refs{/sha}`,
      trees_url: `${url}/git/trees{/sha}`,
      statuses_url: `${url}/statuses/{sha}`,
      languages_url: `${url}/languages`,
      stargazers_url: `${url}/stargazers`,
      contributors_url: `${url}/contributors`,
      subscribers_url: `${url}/subscribers`,
      subscription_url: `${url}/subscription`,
      commits_url: `${url}/commits{/sha}`,
      git_commits_url: `${url}/git/commits{/sha}`,
      comments_url: `${url}/comments{/number}`,
      issue_comment_url: `${url}/issues/comments{/number}`,
      contents_url: `${url}/contents/{+path}`,
      compare_url: `${url}/compare/{base}...{head}`,
      merges_url: `${url}/merges`,
      archive_url: `${url}/{archive_format}{/ref}`,
      downloads_url: `${url}/downloads`,
      issues_url: `${url}/issues{/number}`,
      pulls_url: `${url}/pulls{/number}`,
      milestones_url: `${url}/milestones{/number}`,
      notifications_url: `${url}/notifications{?since,all,participating}`,
      labels_url: `${url}/labels{/name}`,
      releases_url: `${url}/releases{/id}`,
      deployments_url: `${url}/deployments`,
      created_at: iso(repo.createdAt),
      updated_at: iso(repo.updatedAt),
      pushed_at: iso(repo.pushedAt ?? repo.createdAt),
      git_url: `${web.replace(/^https?:/, "git:")}/${full}.git`,
      ssh_url: `git@${new URL(web).host}:${full}.git`,
      clone_url: `${web}/${full}.git`,
      svn_url: `${web}/${full}`,
      homepage: repo.homepage,
      size: 0,
      stargazers_count: 0,
      watchers_count: 0,
      language: null,
      has_issues: true,
      has_projects: true,
      has_downloads: true,
      has_wiki: true,
      has_pages: false,
      has_discussions: false,
      forks_count: 0,
      mirror_url: null,
      archived: false,
      disabled: false,
      open_issues_count: openIssues,
      license: null,
      allow_forking: true,
      is_template: false,
      web_commit_signoff_required: false,
      topics: [],
      visibility: repo.private ? "private" : "public",
      forks: 0,
      open_issues: openIssues,
      watchers: 0,
      default_branch: repo.defaultBranch,
      ...(role === undefined ? {} : { permissions: permissionsOf(role) })
    }
  }

  /** `role` undefined (anonymous callers): no `permissions` field, like GitHub. */
  const fullRepository = (repo: Repo, role: RoleOrNone | undefined) => {
    const org = state.org(repo.owner.id)
    return {
      ...repository(repo, role),
      allow_squash_merge: true,
      allow_merge_commit: true,
      allow_rebase_merge: true,
      allow_auto_merge: false,
      delete_branch_on_merge: false,
      allow_update_branch: false,
      use_squash_pr_title_as_default: false,
      squash_merge_commit_message: "COMMIT_MESSAGES",
      squash_merge_commit_title: "COMMIT_OR_PR_TITLE",
      merge_commit_message: "PR_TITLE",
      merge_commit_title: "MERGE_MESSAGE",
      temp_clone_token: repo.private ? "" : null,
      network_count: 0,
      subscribers_count: 0,
      ...(org ? { organization: user(org.account) } : {})
    }
  }

  const integration = (app: App) => ({
    id: app.id,
    slug: app.slug,
    node_id: app.nodeId,
    client_id: app.clientId,
    owner: user(app.owner),
    name: app.name,
    description: "Coding agents on GitHub issues (emulated App).",
    external_url: `${web}/apps/${app.slug}`,
    html_url: `${web}/apps/${app.slug}`,
    created_at: iso(app.createdAt),
    updated_at: iso(app.createdAt),
    permissions: { ...app.permissions },
    events: [...app.events]
  })

  const authorAssociation = (author: Account, repo: Repo) => {
    if (author.id === repo.owner.id) return "OWNER"
    if (state.org(repo.owner.id)?.owners.has(author.id)) return "MEMBER"
    if (repo.collaborators.has(author.id)) return "COLLABORATOR"
    return "NONE"
  }

  const label = (repo: Repo, value: Label) => ({
    id: value.id,
    node_id: value.nodeId,
    url: `${api}/repos/${repo.owner.login}/${repo.name}/labels/${encodeURIComponent(value.name)}`,
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

  const repoUrl = (repo: Repo) => `${api}/repos/${repo.owner.login}/${repo.name}`
  const repoHtml = (repo: Repo) => `${web}/${repo.owner.login}/${repo.name}`
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

  const installation = (value: Installation) => ({
    id: value.id,
    client_id: state.app.clientId,
    account: user(value.account),
    repository_selection: "all",
    access_tokens_url: `${api}/app/installations/${value.id}/access_tokens`,
    repositories_url: `${api}/installation/repositories`,
    html_url: value.account.type === "Organization"
      ? `${web}/organizations/${value.account.login}/settings/installations/${value.id}`
      : `${web}/settings/installations/${value.id}`,
    app_id: state.app.id,
    app_slug: state.app.slug,
    target_id: value.account.id,
    target_type: value.account.type,
    permissions: { ...state.app.permissions },
    events: [...state.app.events],
    created_at: iso(value.createdAt),
    updated_at: iso(value.createdAt),
    single_file_name: null,
    has_multiple_single_files: false,
    single_file_paths: [],
    suspended_by: null,
    suspended_at: null
  })

  const collaborator = (account: Account, role: RoleOrNone) => ({
    ...user(account),
    permissions: permissionsOf(role),
    role_name: role
  })

  const gitUser = (person: { readonly name: string; readonly email: string; readonly date: string }) => ({
    name: person.name,
    email: person.email,
    date: person.date
  })

  const accountForEmail = (email: string) => {
    const match = /^(?:\d+\+)?([^@]+)@users\.noreply\./.exec(email)
    const account = match ? state.account(match[1]!) : undefined
    return account ? user(account) : null
  }

  const diffEntry = (repo: Repo, sha: string, file: FileChange, patch?: string) => ({
    sha: file.sha,
    filename: file.filename,
    status: file.status,
    additions: file.additions,
    deletions: file.deletions,
    changes: file.additions + file.deletions,
    blob_url: `${repoHtml(repo)}/blob/${sha}/${file.filename}`,
    raw_url: `${repoHtml(repo)}/raw/${sha}/${file.filename}`,
    contents_url: `${repoUrl(repo)}/contents/${file.filename}?ref=${sha}`,
    ...(patch === undefined ? {} : { patch: patch.replace(/\n$/, "") }),
    ...(file.previousFilename ? { previous_filename: file.previousFilename } : {})
  })

  const commit = (repo: Repo, info: CommitInfo, files?: ReadonlyArray<FileChange>) => {
    const url = `${repoUrl(repo)}/commits/${info.sha}`
    const additions = files?.reduce((sum, file) => sum + file.additions, 0) ?? 0
    const deletions = files?.reduce((sum, file) => sum + file.deletions, 0) ?? 0
    return {
      sha: info.sha,
      node_id: Buffer.from(`06:Commit${repo.id}:${info.sha}`).toString("base64"),
      commit: {
        author: gitUser(info.author),
        committer: gitUser(info.committer),
        message: info.message,
        tree: { sha: info.tree, url: `${repoUrl(repo)}/git/trees/${info.tree}` },
        url: `${repoUrl(repo)}/git/commits/${info.sha}`,
        comment_count: 0,
        verification: { verified: false, reason: "unsigned", signature: null, payload: null, verified_at: null }
      },
      url,
      html_url: `${repoHtml(repo)}/commit/${info.sha}`,
      comments_url: `${url}/comments`,
      author: accountForEmail(info.author.email),
      committer: accountForEmail(info.committer.email),
      parents: info.parents.map((sha) => ({
        sha,
        url: `${repoUrl(repo)}/commits/${sha}`,
        html_url: `${repoHtml(repo)}/commit/${sha}`
      })),
      ...(files
        ? {
          stats: { total: additions + deletions, additions, deletions },
          files: files.map((file) => diffEntry(repo, info.sha, file))
        }
        : {})
    }
  }

  const branch = (repo: Repo, name: string, info: CommitInfo) => ({
    name,
    commit: commit(repo, info),
    _links: {
      self: `${repoUrl(repo)}/branches/${name}`,
      html: `${repoHtml(repo)}/tree/${name}`
    },
    protected: false,
    protection: {
      enabled: false,
      required_status_checks: { enforcement_level: "off", contexts: [], checks: [] }
    },
    protection_url: `${repoUrl(repo)}/branches/${name}/protection`
  })

  const shortBranch = (repo: Repo, name: string, sha: string) => ({
    name,
    commit: { sha, url: `${repoUrl(repo)}/commits/${sha}` },
    protected: false
  })

  return {
    base,
    user,
    privateUser,
    repository,
    fullRepository,
    integration,
    label,
    issue,
    issueComment,
    reaction,
    pullSimple,
    pull,
    reviewComment,
    installation,
    collaborator,
    commit,
    diffEntry,
    branch,
    shortBranch,
    issueHtml,
    repoUrl
  }
}

export type Payloads = ReturnType<typeof makePayloads>

/**
 * GitHub's JSON for accounts, repositories, the App and its installations (users, `repository` /
 * `full-repository`, `integration`, `installation`, collaborators), and the URLs of repositories.
 *
 * URLs: the emulator is both the API root and the "web" host: `url` fields are `${base}/repos/o/r/…`
 * (like GitHub Enterprise's API without `/api/v3`) and `html_url` fields are `${base}/o/r/…`.
 */
import { iso } from "../Http.ts"
import type { Account, App, Installation, Repo, RoleOrNone, State } from "../State.ts"
import { atLeast } from "../State.ts"

export const makeAccountPayloads = (state: State, base: string) => {
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

  const repoUrl = (repo: Repo) => `${api}/repos/${repo.owner.login}/${repo.name}`
  const repoHtml = (repo: Repo) => `${web}/${repo.owner.login}/${repo.name}`

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

  return {
    base,
    user,
    privateUser,
    permissionsOf,
    repository,
    fullRepository,
    integration,
    authorAssociation,
    installation,
    collaborator,
    repoUrl,
    repoHtml
  }
}

export type AccountPayloads = ReturnType<typeof makeAccountPayloads>

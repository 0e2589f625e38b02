/**
 * GitHub's JSON for what lives in git: commits (`commit` with files and stats), branches, diff entries,
 * and the Git Data API's blobs, trees, git commits and references. A commit's `verification` is what
 * the emulator recorded when the commit was made through the Git Data API (`GitDataLog.ts`), else
 * `unsigned`.
 */
import type { CommitInfo, FileChange } from "../Git.ts"
import type { GitDataLog } from "../GitDataLog.ts"
import type { Identity, RawCommit, Ref, TreeEntry } from "../GitObjects.ts"
import type { Repo, State } from "../State.ts"
import type { AccountPayloads } from "./Accounts.ts"

export const makeGitPayloads = (state: State, accounts: AccountPayloads, gitData: GitDataLog) => {
  const { repoHtml, repoUrl, user } = accounts

  const nodeId = (kind: string, repo: Repo, id: string) =>
    Buffer.from(`0${kind.length}:${kind}${repo.id}:${id}`).toString("base64")

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
      node_id: nodeId("Commit", repo, info.sha),
      commit: {
        author: gitUser(info.author),
        committer: gitUser(info.committer),
        message: info.message,
        tree: { sha: info.tree, url: `${repoUrl(repo)}/git/trees/${info.tree}` },
        url: `${repoUrl(repo)}/git/commits/${info.sha}`,
        comment_count: 0,
        verification: gitData.verification(repo, info.sha)
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

  const shortBlob = (repo: Repo, sha: string) => ({ url: `${repoUrl(repo)}/git/blobs/${sha}`, sha })

  /** `content` in base64 with a line break every 60 characters, as GitHub sends it. */
  const blob = (repo: Repo, sha: string, content: Uint8Array) => ({
    sha,
    node_id: nodeId("Blob", repo, sha),
    size: content.length,
    url: `${repoUrl(repo)}/git/blobs/${sha}`,
    content: (Buffer.from(content).toString("base64").match(/.{1,60}/g) ?? []).map((line) => `${line}\n`).join(""),
    encoding: "base64"
  })

  const tree = (repo: Repo, sha: string, entries: ReadonlyArray<TreeEntry>, truncated: boolean) => ({
    sha,
    url: `${repoUrl(repo)}/git/trees/${sha}`,
    tree: entries.map((entry) => ({
      path: entry.path,
      mode: entry.mode,
      type: entry.type,
      sha: entry.sha,
      ...(entry.size === undefined ? {} : { size: entry.size }),
      ...(entry.type === "commit" ? {} : { url: `${repoUrl(repo)}/git/${entry.type}s/${entry.sha}` })
    })),
    truncated
  })

  /** GitHub's dates: UTC, without milliseconds. */
  const dateOf = (who: Identity) => new Date(who.seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z")

  const gitCommit = (repo: Repo, commit: RawCommit) => ({
    sha: commit.sha,
    node_id: nodeId("Commit", repo, commit.sha),
    url: `${repoUrl(repo)}/git/commits/${commit.sha}`,
    html_url: `${repoHtml(repo)}/commit/${commit.sha}`,
    author: { name: commit.author.name, email: commit.author.email, date: dateOf(commit.author) },
    committer: { name: commit.committer.name, email: commit.committer.email, date: dateOf(commit.committer) },
    tree: { sha: commit.tree, url: `${repoUrl(repo)}/git/trees/${commit.tree}` },
    // Without its trailing line break, like the message of `GET …/commits/{ref}`.
    message: commit.message.replace(/\n+$/, ""),
    parents: commit.parents.map((sha) => ({
      sha,
      url: `${repoUrl(repo)}/git/commits/${sha}`,
      html_url: `${repoHtml(repo)}/commit/${sha}`
    })),
    // A signature in a pushed commit is checked against no key the emulator knows.
    verification: gitData.madeThroughApi(repo, commit.sha) || commit.signature === undefined
      ? gitData.verification(repo, commit.sha)
      : {
        verified: false,
        reason: "unknown_key",
        signature: commit.signature,
        payload: commit.payload,
        verified_at: null
      }
  })

  /** An entry of the contents API (`content-directory` items; files add `content`, symlinks `target`). */
  const content = (repo: Repo, ref: string, entry: TreeEntry) => {
    const name = entry.path.slice(entry.path.lastIndexOf("/") + 1)
    const encoded = entry.path.split("/").map(encodeURIComponent).join("/")
    const url = `${repoUrl(repo)}/contents/${encoded}?ref=${encodeURIComponent(ref)}`
    const gitUrl = entry.type === "commit" ? null : `${repoUrl(repo)}/git/${entry.type}s/${entry.sha}`
    const htmlUrl = entry.type === "commit"
      ? null
      : `${repoHtml(repo)}/${entry.type === "tree" ? "tree" : "blob"}/${ref}/${encoded}`
    return {
      type: entry.type === "tree" ? "dir" : entry.mode === "120000" ? "symlink" : "file",
      size: entry.size ?? 0,
      name,
      path: entry.path,
      sha: entry.sha,
      url,
      git_url: gitUrl,
      html_url: htmlUrl,
      download_url: entry.type === "blob" ? `${repoHtml(repo)}/raw/${ref}/${encoded}` : null,
      _links: { self: url, git: gitUrl, html: htmlUrl }
    }
  }

  const contentFile = (repo: Repo, ref: string, entry: TreeEntry, bytes: Uint8Array) => ({
    ...content(repo, ref, entry),
    type: "file",
    encoding: "base64",
    content: blob(repo, entry.sha, bytes).content
  })

  const gitRef = (repo: Repo, ref: Ref) => ({
    ref: ref.name,
    node_id: nodeId("Ref", repo, ref.name),
    url: `${repoUrl(repo)}/git/${ref.name}`,
    object: { type: ref.type, sha: ref.sha, url: `${repoUrl(repo)}/git/${ref.type}s/${ref.sha}` }
  })

  return { commit, diffEntry, branch, shortBranch, shortBlob, blob, tree, gitCommit, gitRef, content, contentFile }
}

package docker

import "os"

// WorkspaceOwner is who must own what is put into a workspace before its
// session starts, for the sandbox's code to be able to change it (a copy
// of the user's project): the image's sandbox user when agentteam runs as
// root, since the sandbox then runs as that user (prepareOwnership gives
// it the workspace directory alone), else -1, -1: the sandbox runs with
// the caller's own ids, which own those files already.
func WorkspaceOwner() (uid, gid int) {
	if os.Geteuid() == 0 {
		return sandboxUID, sandboxUID
	}
	return -1, -1
}

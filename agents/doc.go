// Package agents owns the members of a team: the coder and the reviewer
// (a system prompt and a model) and the executor, which runs the code blocks
// of the coder's message in the sandbox. Subpackage codeblock reads those
// blocks out of a Markdown message.
package agents

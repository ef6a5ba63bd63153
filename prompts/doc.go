// Package prompts owns the agents' system prompts, embedded Markdown files
// that a directory given at run time can override.
package prompts

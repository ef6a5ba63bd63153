// Package team owns the round-robin loop over a team's agents and the
// conditions that end it (approval, turns, time, tokens, cancellation).
package team

package main

import (
	"github.com/spf13/cobra"
)

func newDoctorCmd(s IO) *cobra.Command {
	return &cobra.Command{Use: "doctor", Short: "Check the Docker engine, the sandbox image and the hardening"}
}

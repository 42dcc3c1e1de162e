package app

import "github.com/spf13/cobra"

func newRenderCommand(streams Streams) *cobra.Command {
	return &cobra.Command{Use: "render PATH...", Short: "Show the exact launch specs a manifest implies", Hidden: true}
}

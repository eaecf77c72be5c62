package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// The scripts ask bcast itself for the candidates (cli's hidden
// --generate-bash-completion flag): commands at the top, each command's
// flags below it.
const bashCompletion = `# bash completion for bcast: source <(bcast completion bash)
_bcast_complete() {
    local cur opts
    COMPREPLY=()
    cur="${COMP_WORDS[COMP_CWORD]}"
    opts=$("${COMP_WORDS[@]:0:COMP_CWORD}" --generate-bash-completion 2>/dev/null)
    COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
    return 0
}
complete -o bashdefault -o default -F _bcast_complete bcast
`

const zshCompletion = `#compdef bcast
# zsh completion for bcast: bcast completion zsh > "${fpath[1]}/_bcast"
_bcast() {
    local -a opts
    opts=("${(@f)$(${words[1,CURRENT-1]} --generate-bash-completion 2>/dev/null)}")
    if [[ -n "${opts[1]}" ]]; then
        compadd -- "${opts[@]}"
    else
        _files
    fi
}
compdef _bcast bcast
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash or zsh)",
		UsageText: "bcast completion bash|zsh",
		Description: `   source <(bcast completion bash)
   bcast completion zsh > "${fpath[1]}/_bcast"`,
		BashComplete: func(c *cli.Context) {
			fmt.Fprintln(c.App.Writer, "bash")
			fmt.Fprintln(c.App.Writer, "zsh")
		},
		Action: func(c *cli.Context) error {
			switch c.Args().First() {
			case "bash":
				_, err := fmt.Fprint(c.App.Writer, bashCompletion)
				return err
			case "zsh":
				_, err := fmt.Fprint(c.App.Writer, zshCompletion)
				return err
			case "":
				return usageError("bcast completion", "name a shell: bash or zsh")
			}
			return usageError("bcast completion", "unknown shell %q: want bash or zsh", c.Args().First())
		},
	}
}

// Command kycctl is the command-line client of kycgw: it starts verifications, reads their
// status and follows the event stream over gRPC (kyc.v1.KycService), and its help walks an
// integrator through that flow against the sandbox.
//
// It talks to the gateway only through the generated client in gen/kyc/v1, as any integrating
// service would; it imports no server code.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes, one per kind of outcome a script may want to tell apart. The help lists them.
const (
	exitOK            = 0
	exitFailure       = 1 // anything below does not name: INTERNAL, UNKNOWN, a broken answer
	exitUsage         = 2 // bad flags or arguments, no API key, unreadable TLS files
	exitInvalid       = 3 // INVALID_ARGUMENT
	exitAuth          = 4 // UNAUTHENTICATED, PERMISSION_DENIED
	exitNotFound      = 5 // NOT_FOUND
	exitConflict      = 6 // ALREADY_EXISTS, ABORTED, FAILED_PRECONDITION
	exitUnavailable   = 7 // UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED: retry later
	exitCursorExpired = 8 // OUT_OF_RANGE: the watch cursor is older than the retained events
	exitInterrupted   = 130
)

const (
	defaultAddr   = "127.0.0.1:9090"
	addrEnv       = "KYCCTL_ADDR"
	defaultKeyEnv = "KYCGW_API_KEY"
	devKey        = "kycgw-dev-key"
	sandboxProg   = "72585109-8222-4221-b15b-48e87ffed790"
	// helpCustomer's verification under the development key is helpVerification: ids derive
	// from tenant, provider, program and subject, so the help can show the real one.
	helpCustomer     = "5b7e1c2a-8f43-4d6e-9a15-2c3b4d5e6f70"
	helpVerification = "vrf_oebesklotkyvrr3wsfcje2y4lwl2blw2"
)

// cli is one invocation: its environment, its outputs and the global options.
type cli struct {
	getenv         func(string) string
	stdout, stderr io.Writer
	g              globals
	gfs            *flag.FlagSet // the global flags, shared by every command's flag set
	set            map[string]bool
}

// globals are the options every command takes, before or after its name.
type globals struct {
	addr       string
	apiKeyEnv  string
	timeout    time.Duration
	tls        bool
	caFile     string
	certFile   string
	keyFile    string
	serverName string
	output     string
}

// command is one subcommand.
type command struct {
	name, args, summary, about string
	// flags defines the command's own flags and returns the function that runs it.
	flags func(c *cli, fs *flag.FlagSet) func(ctx context.Context, args []string) int
}

func commands() []command {
	return []command{startCommand(), statusCommand(), watchCommand()}
}

// run is the whole program; main only adds the process around it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c := &cli{getenv: getenv, stdout: stdout, stderr: stderr, set: map[string]bool{}}
	c.gfs = c.globalFlags()
	if err := c.gfs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.mainHelp(stdout)
			return exitOK
		}
		return c.usageError(err.Error())
	}
	c.gfs.Visit(func(f *flag.Flag) { c.set[f.Name] = true })
	rest := c.gfs.Args()
	if len(rest) == 0 {
		c.mainHelp(stderr)
		return exitUsage
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		return c.help(rest)
	}
	for _, cmd := range commands() {
		if cmd.name != name {
			continue
		}
		own := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
		runCmd := cmd.flags(c, own)
		positional, err := c.parse(own, rest)
		if err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.commandHelp(stdout, cmd, own)
				return exitOK
			}
			return c.usageError(err.Error())
		}
		if msg := c.finishGlobals(); msg != "" {
			return c.usageError(msg)
		}
		return runCmd(ctx, positional)
	}
	return c.usageError(fmt.Sprintf("unknown command %q", name))
}

func (c *cli) globalFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("kycctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g := &c.g
	fs.StringVar(&g.addr, "addr", defaultAddr, "the gateway's gRPC address, `host:port` ("+addrEnv+" sets it too)")
	fs.StringVar(&g.apiKeyEnv, "api-key-env", defaultKeyEnv, "`NAME` of the environment variable that holds the API key")
	fs.DurationVar(&g.timeout, "timeout", 30*time.Second, "bound on each call (Start, GetStatus); a watch stream itself runs until stopped")
	fs.BoolVar(&g.tls, "tls", false, "connect over TLS, verifying the gateway with the system's CAs (or --ca-file)")
	fs.StringVar(&g.caFile, "ca-file", "", "PEM CA bundle to verify the gateway's certificate with (implies --tls)")
	fs.StringVar(&g.certFile, "cert-file", "", "PEM client certificate for mTLS, with --key-file (implies --tls)")
	fs.StringVar(&g.keyFile, "key-file", "", "PEM private key of --cert-file")
	fs.StringVar(&g.serverName, "server-name", "", "name to verify the gateway's certificate against, when it differs from the --addr host (implies --tls)")
	fs.StringVar(&g.output, "output", "text", "output format: text, or json (protojson with proto field names; watch: one object per line)")
	return fs
}

// parse parses a command's arguments: its own flags and the global flags, which may come
// before, between or after positional arguments.
func (c *cli) parse(own *flag.FlagSet, args []string) ([]string, error) {
	fs := flag.NewFlagSet(own.Name(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	own.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	c.gfs.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	fs.Visit(func(f *flag.Flag) { c.set[f.Name] = true })
	return positional, nil
}

// finishGlobals applies the environment to what the command line left unset and checks the
// global options; it returns what is wrong, or "".
func (c *cli) finishGlobals() string {
	if !c.set["addr"] {
		if v := c.getenv(addrEnv); v != "" {
			c.g.addr = v
		}
	}
	if c.g.output != "text" && c.g.output != "json" {
		return fmt.Sprintf("--output %q: want text or json", c.g.output)
	}
	if c.g.apiKeyEnv == "" {
		return "--api-key-env: give the name of an environment variable"
	}
	if (c.g.certFile == "") != (c.g.keyFile == "") {
		return "--cert-file and --key-file go together"
	}
	if c.g.timeout <= 0 {
		return "--timeout must be positive"
	}
	return ""
}

func (c *cli) json() bool { return c.g.output == "json" }

// apiKey reads the API key from the environment. The key is never a flag value: flags end up
// in shell history and in every user's view of the process list.
func (c *cli) apiKey() (string, bool) {
	key := strings.TrimSpace(c.getenv(c.g.apiKeyEnv))
	if key != "" {
		return key, true
	}
	if c.g.apiKeyEnv == defaultKeyEnv {
		c.errorf("no API key: set %s (for the sandbox gateway of 'make run': export %s=%s), or name another variable with --api-key-env", defaultKeyEnv, defaultKeyEnv, devKey)
	} else {
		c.errorf("no API key: the environment variable %s (from --api-key-env) is empty or unset", c.g.apiKeyEnv)
	}
	return "", false
}

func (c *cli) errorf(format string, args ...any) {
	fmt.Fprintf(c.stderr, "kycctl: "+format+"\n", args...)
}

func (c *cli) usageError(msg string) int {
	c.errorf("%s", msg)
	fmt.Fprintln(c.stderr, "Run 'kycctl help' for the flow and the flags, 'kycctl help COMMAND' for one command.")
	return exitUsage
}

// help serves "kycctl help [COMMAND]".
func (c *cli) help(args []string) int {
	if len(args) == 0 {
		c.mainHelp(c.stdout)
		return exitOK
	}
	for _, cmd := range commands() {
		if cmd.name == args[0] {
			own := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
			cmd.flags(c, own)
			c.commandHelp(c.stdout, cmd, own)
			return exitOK
		}
	}
	return c.usageError(fmt.Sprintf("unknown command %q", args[0]))
}

func (c *cli) mainHelp(w io.Writer) {
	fmt.Fprintf(w, `kycctl is the command-line client of kycgw, the KYC gateway. It calls the gateway's gRPC API
(kyc.v1.KycService) the way an integrating service does: start a verification, follow its
events, read its status.

Usage:
  kycctl [global flags] COMMAND [flags] [arguments]

Commands:
`)
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(w, `  %-8s this text; 'kycctl help COMMAND' (or 'kycctl COMMAND --help') for one command

The flow, against the sandbox:
  1. Run the gateway on its embedded sandbox (in the kycgw repository, in another terminal):
       make run
  2. Give kycctl the development API key, which a gateway whose providers are all sandboxes
     accepts (tenant "dev"):
       export %s=%s
  3. Start a verification. SSN 123-45-6789 passes; the README's "Sandbox" section lists the
     values that lead to other outcomes (222-22-2222: documents required, 666-66-6666: failed):
       kycctl start --provider bond --program-id %s \
         --customer-id %s \
         --ssn 123-45-6789 --phone 555-111-2222 --phone-country-code 1 \
         --email ada@example.com --ip 192.168.1.139
     It prints the verification id, %s (stable: ids
     derive from the API key's tenant, the provider, the program and the subject), its
     status (PENDING: submitted to the provider) and the next action, if any. Without
     --idempotency-key it makes up a key and prints it: a retry with that key never submits
     twice.
  4. Follow the verification until it is decided (the sandbox's signed webhook passes it a
     moment later); each event is one line:
       kycctl watch --verification-id %s --until-terminal
  5. Read its status at any time:
       kycctl status %s

The API key is read from the environment variable %s (--api-key-env NAME reads
another one). It is never accepted as a flag value, so it stays out of shell history and the
process list. The gateway's address is --addr, else %s, else %s.

Global flags (before or after the command):
`, "help", defaultKeyEnv, devKey, sandboxProg, helpCustomer, helpVerification, helpVerification, helpVerification,
		defaultKeyEnv, addrEnv, defaultAddr)
	printFlags(w, c.gfs)
	fmt.Fprint(w, `
Exit codes:
  0    success (watch: --until-terminal saw a terminal status; without it, stopped by Ctrl-C)
  1    an unexpected failure (INTERNAL, UNKNOWN, ...)
  2    usage: bad flags or arguments, no API key, unreadable TLS files
  3    INVALID_ARGUMENT: the gateway refused the request; each invalid field is named
  4    UNAUTHENTICATED or PERMISSION_DENIED: a missing or wrong API key, a provider or program
       the key's tenant may not use
  5    NOT_FOUND: no such verification (for this API key's tenant) or subject
  6    ALREADY_EXISTS, ABORTED or FAILED_PRECONDITION: the idempotency key was used for another
       request or is still in flight, or the subject already passed (KYC_ALREADY_PASSED)
  7    UNAVAILABLE, DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED: retry later (a Start with the same
       --idempotency-key)
  8    OUT_OF_RANGE (CURSOR_EXPIRED): the watch cursor is older than the retained events
  130  interrupted (Ctrl-C) before watch --until-terminal saw a terminal status

Errors print the gRPC code, the message, the google.rpc.ErrorInfo reason and metadata, and
each invalid field; with --output json, as one JSON object on stderr.
`)
}

func (c *cli) commandHelp(w io.Writer, cmd command, own *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: kycctl %s [flags]%s\n\n%s\n\nFlags:\n", cmd.name, cmd.args, strings.TrimSpace(cmd.about))
	printFlags(w, own)
	fmt.Fprintln(w, "\nGlobal flags (--addr, --output, --timeout, TLS, --api-key-env) and exit codes: kycctl help")
}

// printFlags lists flags as they are usually typed, with two dashes.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if kind != "" {
			line += " " + kind
		}
		switch f.DefValue {
		case "", "false", "0", "0s":
		default:
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, usage)
	})
}

package main

import (
	"context"
	"flag"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
)

func statusCommand() command {
	return command{
		name:    "status",
		args:    " VERIFICATION_ID",
		summary: "print one verification: KycService.GetStatus",
		about: `Status prints the verification's current normalized status, the provider's raw status, the
next action (documents to upload with their links, fields to correct, ...), check results and
reason. A verification of another API key's tenant is NOT_FOUND (exit 5).

Example:
  kycctl status ` + helpVerification,
		flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) int {
			return c.status
		},
	}
}

func (c *cli) status(ctx context.Context, args []string) int {
	if len(args) != 1 {
		return c.usageError("status takes one argument, the verification id (vrf_...)")
	}
	client, closeConn, code := c.connect()
	if code != exitOK {
		return code
	}
	defer closeConn()
	callCtx, cancel := context.WithTimeout(ctx, c.g.timeout)
	defer cancel()
	resp, err := client.GetStatus(callCtx, &kycv1.GetStatusRequest{VerificationId: args[0]})
	if err != nil {
		return c.report("status", err)
	}
	if c.json() {
		if err := writeJSON(c.stdout, resp); err != nil {
			c.errorf("%v", err)
			return exitFailure
		}
		return exitOK
	}
	writeVerification(c.stdout, resp.GetVerification())
	return exitOK
}

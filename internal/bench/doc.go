// Package bench is the harness behind `make bench` (cmd/kycbench): it starts every system under
// test in this process, drives it with closed-loop load or event fan-out, and reports figures
// next to the targets of the project's performance targets.
//
// Every target there is a ratio measured in one run against a reference the harness starts
// itself (a bare grpc-go echo server, a plain HTTP POST to the emulator), because the machines
// are shared and noisy: absolute times from another day mean little.
//
// The harness reports; it asserts nothing about timing. Its own test (in cmd/kycbench) only
// checks that every row is produced and no event is lost.
//
// It drives the gateway as a client would (generated gRPC client, real HTTP to the REST port)
// and may import the server, the stores, the event hub, the Fake provider, the Bond adapter and
// its emulator. Nothing but cmd/kycbench may import it.
package bench

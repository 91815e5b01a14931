// Package bond is kycgw's HTTP client of the Bond/Atelio KYC API (the two are one platform,
// renamed; same paths, payloads, error codes and webhook signatures). One Client is one
// configured provider instance: "bond" and "atelio" are two Clients with different names, base
// URLs, credentials and webhook secrets, so nothing in this package assumes a name.
//
// The package turns the provider's wire formats into the domain types of package providers:
//
//   - client.go: configuration, HTTP plumbing, Start/Status and the error classification that
//     turns Bond's two error envelopes into the providers sentinel errors;
//   - wire.go: the JSON shapes on the wire, and a lenient decoder for the documented payloads
//     that are not quite JSON;
//   - status.go: the two status vocabularies (GET/POST kyc_status and webhook event names),
//     each one exhaustive switch that refuses what it does not know;
//   - webhook.go: Bond-Signature verification, webhook parsing and subscription.
//
// It imports only the standard library and package providers. It must not import generated
// protobuf code, the server, stores, or the emulator in internal/emulator/bondemu (tests may,
// to run against it over real HTTP).
//
// Applicant data is PII: it is sent to the provider and nowhere else. Errors carry provider
// codes and provider messages with any applicant value scrubbed out, never request bodies.
package bond

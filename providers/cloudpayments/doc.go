// Package cloudpayments is kycgw's HTTP client of the CloudPayments kyc-ms API (US Cloud
// Payments, LLC; not the Russian cloudpayments.ru). CloudPayments verifies the users of its
// own platform: the applicant signs in to CloudPayments, runs the vendor's mobile SDK (Jumio)
// with a token this API hands out, and the SDK's result is registered back. There are no
// webhooks, so the gateway polls Status (the package implements providers.Poller).
//
// Every call is made on the user's behalf with the user's OAuth access token, which the caller
// supplies in StartInput.CloudPayments.Session (and StatusInput.Session for polling). When
// kyc-ms answers 401, or the session says the token has expired, the client refreshes it once
// with the refresh token and returns the new session in Result.Session for the gateway to keep.
//
// Layout:
//
//   - client.go: configuration, Start/Status, the token refresh and the HTTP plumbing;
//   - wire.go: the JSON and form shapes on the wire and their decoders;
//   - status.go: the one exhaustive switch from getUserInfo statuses to providers.Status;
//   - errors.go: classification of the two error shapes (CPInvalidRequest and Spring OAuth)
//     into the providers sentinel errors;
//   - validate.go: ValidateStart, including the check that the access token belongs to the
//     subject.
//
// It imports only the standard library and package providers. It must not import generated
// protobuf code, the server, stores, or the emulator in internal/emulator/cpemu (tests may, to
// run against it over real HTTP).
//
// Tokens (access, refresh, and the SDK token) are credentials: they go to CloudPayments and,
// for the SDK token, back to the Start caller, and nowhere else. Errors never contain them;
// provider text is scrubbed of anything token-shaped before it is put in an error.
package cloudpayments

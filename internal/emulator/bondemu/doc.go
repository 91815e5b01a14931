// Package bondemu is a faithful, in-memory emulator of the Bond/Atelio KYC sandbox API, built
// from the provider documents in shared/seeds and shared/reference/provider-apis.md. The
// gateway mounts it in-process (http.StripPrefix at /sandbox/bond/ and /sandbox/atelio/, one
// Emulator per instance), tests run it under httptest, and a standalone binary can serve it.
//
// It speaks the provider's wire format, not kycgw's: it must not import package providers, the
// adapter in providers/bond (so a bug shared by both sides cannot hide; in particular the
// Bond-Signature code here is written independently), generated protobuf code or the server.
//
// # Routes (under /api/v0.1)
//
//	POST /customers/{customer_id}/verification-kyc                                   start KYC
//	GET  /customers/{customer_id}/verification-kyc?program_id=                        KYC status
//	POST /businesses/{business_id}/beneficial_owners/{beneficial_owner_id}/verification-kyc
//	GET  /businesses/{business_id}/beneficial_owners/{beneficial_owner_id}/verification-kyc?program_id=
//	POST /simulate/kyc-pass, /simulate/kyc-fail   {"customer_id"|"beneficial_owner_id","program_id"}
//	POST /webhooks, GET /webhooks, GET|PATCH|DELETE /webhooks/{id}
//
// Every route needs the Identity and Authorization headers (401, Code "auth_err").
//
// # Errors it produces
//
//	schema error        400 {"Message":{"ssn":["Missing data for required field."]},"Status":400,"Code":"kyc_post_schema","Type":"Request Error"}
//	already passed      409 {"Message":"KYC already passed for this customer at 2021-10-20T10:27:20.154286+00:00","Status":409,"Code":"kyc_reinit_fail","Type":"Request Error"}
//	in progress         409 {"Message":"KYC already initialized for this customer","Status":409,"Code":"kyc_init_fail","Type":"Request Error"}
//	idempotency reuse   409 {"type":"RESOURCE_CONFLICT","code":"idempotency_key_exists","message":"A request was made with this idempotency key in the past 24 hours"}
//	no KYC (GET)        404 {"Message":"KYC result could not be found","Status":404,"Code":"kyc_dne","Type":"Request Error"}
//	bad customer id     404 Code "customer_invalid_uuid4"; bad business or beneficial owner id: 404 Code "business_dne"
//
// An Idempotency-Key is remembered for 24 hours per Identity once a request carrying it has
// passed validation (a request refused for its body can be corrected and sent again with the
// same key, as a gateway that does not store validation failures will do).
//
// # Outcomes by SSN
//
// The SSN's digits decide the outcome (dashes are ignored). The first webhook is sent
// Options.WebhookDelay after the 201.
//
//	SSN           webhook event                         GET kyc_status        details
//	(any other)   kyc.verification.success              passed                results all passed
//	000-00-0000   kyc.verification.under_review         under review          stays until /simulate (or ReviewDelay)
//	111-11-1111   kyc.verification.document_required    document required     social_security_card, government_id
//	222-22-2222   kyc.verification.document_required    document required     government_id, proof_of_address
//	333-33-3333   kyc.verification.document_required    document required     government_id
//	444-44-4444   kyc.verification.document_required    document required     social_security_card, government_id, proof_of_address
//
// Emulator extensions (not Bond's documented sandbox values):
//
//	555-55-5555   kyc.verification.reenter_information  reenter information   fields first_name, last_name, ssn; no occurred_at
//	666-66-6666   kyc.verification.failure              failed                reasons {"ofac":"failed", others "passed"}
//	666-66-0001   kyc.verification.failure              failed                error_code po_box_failure + description
//	777-77-7777   kyc.verification.error                error                 retry with a new POST
//	888-88-8888   kyc.verification.timeout              expired               retry with a new POST
//
// "reenter information" as a GET kyc_status is itself an extension: Bond documents no GET
// value for that state. After error, expired, failed or reenter information a new POST opens a
// new attempt; after submitted, initialized, under review or document required it is refused
// as in progress; after passed it is refused as already passed.
//
// # Webhooks
//
// Deliveries go to every enabled subscription whose events match (wildcards such as "kyc.*"
// follow path.Match). The body is compact JSON; the Bond-Signature header is
// t=<unix>,v1=<hex>,v2=<hex> where v2 is HMAC-SHA256 over "{t}.{raw body}" and v1 the same
// over Python's json.dumps form of the payload (", " and ": " separators), keyed with the
// UTF-8 bytes of the whole "whsec_..." secret. A delivery answered by anything but 200 or 201
// is retried with doubling backoff up to Options.MaxDeliveryAttempts, re-signed each time.
package bondemu

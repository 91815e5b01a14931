// Package bondemu is a faithful, in-memory emulator of the Bond/Atelio KYC sandbox API, built
// from the provider documents in the providers' published documents and the known wire formats. The
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
// Every route needs the Identity and Authorization headers (401, Code "auth_err"). The sandbox
// control endpoints under /_sandbox/ (see "Sandbox control and fault injection") are served
// beside /api/v0.1, outside the fault injector.
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
//	000-00-0001   under_review, then success            under review, passed  a two-webhook sequence
//	111-11-0001   document_required, then under_review, document required,    a three-webhook sequence;
//	              then success                          under review, passed  government_id
//	555-55-5555   kyc.verification.reenter_information  reenter information   fields first_name, last_name, ssn; no occurred_at
//	666-66-6666   kyc.verification.failure              failed                reasons {"ofac":"failed", others "passed"}
//	666-66-0001   kyc.verification.failure              failed                error_code po_box_failure + description
//	777-77-7777   kyc.verification.error                error                 retry with a new POST
//	888-88-8888   kyc.verification.timeout              expired               retry with a new POST
//
// In the sequences each webhook follows the previous one by Options.WebhookDelay, and the GET
// status moves with them. Another sequence: 000-00-0000, then POST /simulate/kyc-pass (or
// kyc-fail) sends under_review followed by success (or failure).
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
// DeliveryStats counts attempts, deliveries, give-ups and drops.
//
// # Sandbox control and fault injection (emulator extensions, not Bond's API)
//
// All faults are off by default. The control endpoints take no credentials except kyc-status,
// which needs the API key like the API. In Go, the same switches are Faults().Set,
// SetWebhookFaults and the POST below. Examples assume the emulator at $EMU (e.g.
// http://127.0.0.1:8080/sandbox/bond):
//
//	endpoint / switch                      effect
//	GET|PUT|POST /_sandbox/faults          HTTP faults in front of the whole API (package faults):
//	  latency          "2s"                  added before every answer (a cancelled request ends it)
//	  error_rate       0..1                  share answered 503 {"Message":"The service is temporarily unavailable. Please try again later.","Status":503,"Code":"service_unavailable","Type":"Server Error"}
//	  rate_limit_rate  0..1                  share answered 429, Retry-After: 1, Code "rate_limit_exceeded"
//	  refuse           true                  every connection closed without an answer
//	GET|PUT|POST /_sandbox/webhook-faults  webhook faults (WebhookFaults); PUT replaces all of them,
//	                                       durations are Go strings, unknown fields are refused (400):
//	  duplicate        N                     each webhook delivered N extra times, one copy after the other
//	  reorder          true                  each subject's webhooks held, then sent newest first when a
//	                                         sequence-ending event arrives (success, failure, error,
//	                                         timeout, reenter_information), reorder_window after the
//	                                         last one (default 1s), or when reorder is switched off
//	  reorder_window   "1s"                  see reorder
//	  delay            "5s"                  added before each delivery
//	  wrong_secret     true                  signed with a random secret: refused by a correct receiver,
//	                                         retried, given up after Options.MaxDeliveryAttempts
//	  drop             true                  nothing sent (the KYC state still changes)
//	POST /_sandbox/kyc-status              {"customer_id"|"beneficial_owner_id","program_id","kyc_status"[,"event"]}:
//	                                       GET reports kyc_status verbatim (unknown values included)
//	                                       and, with event, a webhook of that name is sent; 404 kyc_dne
//	                                       when the subject has no KYC for the program
//
// For example:
//
//	curl -X PUT $EMU/_sandbox/faults -d '{"error_rate":1}'
//	curl -X PUT $EMU/_sandbox/faults -d '{"latency":"2s","rate_limit_rate":0.5}'
//	curl -X PUT $EMU/_sandbox/faults -d '{"refuse":true}'
//	curl -X PUT $EMU/_sandbox/faults -d '{}'                       # all HTTP faults off
//	curl $EMU/_sandbox/webhook-faults
//	  {"duplicate":0,"reorder":false,"reorder_window":"0s","delay":"0s","wrong_secret":false,"drop":false}
//	curl -X PUT $EMU/_sandbox/webhook-faults -d '{"duplicate":2}'
//	curl -X PUT $EMU/_sandbox/webhook-faults -d '{"reorder":true}'  # then start SSN 111-11-0001:
//	                                       # success, under_review, document_required arrive in that order
//	curl -X PUT $EMU/_sandbox/webhook-faults -d '{"delay":"5s","wrong_secret":true}'
//	curl -X PUT $EMU/_sandbox/webhook-faults -d '{"drop":true}'
//	curl -X PUT $EMU/_sandbox/webhook-faults -d '{}'               # all webhook faults off
//	curl -X POST $EMU/_sandbox/kyc-status -H "Identity: $ID" -H "Authorization: $KEY" \
//	  -d '{"customer_id":"931e2341-c3eb-4681-97d4-f6e09d90da14","program_id":"72585109-8222-4221-b15b-48e87ffed790","kyc_status":"pending_manual_review","event":"kyc.verification.pending_manual_review"}'
package bondemu

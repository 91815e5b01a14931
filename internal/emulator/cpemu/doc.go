// Package cpemu is a faithful, in-memory emulator of the CloudPayments kyc-ms sandbox (the US
// Cloud Payments, LLC API), built from the provider's published documentation
// and SDK. The gateway mounts it in-process
// (http.StripPrefix("/sandbox/cloudpayments", emu)), tests run it under httptest, and a
// standalone binary can serve it.
//
// It speaks the provider's wire format, not kycgw's: it must not import package providers, the
// adapter in providers/cloudpayments (so a misreading shared by both sides cannot hide),
// generated protobuf code or the server.
//
// # Routes
//
//	POST /registration/user/selfregister  JSON user (the documented sample is accepted verbatim,
//	                                      duplicate key and trailing comma included) -> 200 user with uuid
//	POST /auth/oauth/token                form: grant_type=password&username=&password=
//	                                      or grant_type=refresh_token&refresh_token= -> OauthTokenResponse
//	GET  /kyc-ms/getUserInfo              -> {"status","kycProvider","remainingAttempts"}
//	GET  /kyc-ms/getToken[?deviceId=]     -> {"token","kycProvider"}; NOT_REGISTERED, LV1 or NEED_RESUBMIT -> LV1
//	POST /kyc-ms/registerUser             {"accountId","workflowId"}; LV1 -> PENDING
//
// Every route needs the api-key and tenantName headers (Options.APIKey, Options.TenantName;
// 403 otherwise). The kyc-ms routes also need "Authorization: Bearer <access_token>" from the
// token endpoint (401 otherwise). The token response has exactly the fields of the backend's
// OauthTokenResponse: access_token, expires_in, jti, app_name, last_signon_timestamp,
// refresh_token, scope, tenant_name, token_type, user_type, uuid, need_change_password.
// access_token is an HS256 JWT signed with a key private to the Emulator; its claims are the
// ones decoded from the public samples (app_name, tenant_name, user_type, user_name, scope,
// last_signon_timestamp, exp, uuid, authorities, jti, client_id). A refresh_token grant answers
// a new access token and the same refresh token (Spring's default reuse). Access tokens expire
// after Options.AccessTokenTTL on the Emulator's clock (exact to the nanosecond, although the
// JWT's exp claim is whole seconds); refresh tokens after 90 days.
//
// # Sandbox control (emulator extensions, not CloudPayments API)
//
//	POST /_sandbox/users/{uuid}/status  {"status":"APPROVED_VERIFIED"[,"remainingAttempts":2]}
//	                                    needs api-key and tenantName; forces the user's status
//	                                    (any upper-case value is served as given, so clients'
//	                                    handling of unknown statuses can be tested; a forced
//	                                    PENDING stays until the next control call); answers the
//	                                    user's getUserInfo body, 404 USER_NOT_FOUND for an unknown uuid
//	GET|PUT|POST /_sandbox/faults       the fault injector's control handler (see package faults);
//	                                    no credentials
//
// # User lifecycle and outcomes by workflowId
//
// A new user is NOT_REGISTERED with remainingAttempts 3. getToken moves it to LV1 (also from
// NEED_RESUBMIT: a new attempt begins). registerUser moves LV1 to PENDING and uses one attempt.
// Options.ReviewDelay after registerUser (computed when the user is next read; the emulator runs
// no goroutines) the outcome is chosen by the SDK result's workflowId, case-insensitively:
//
//	workflowId prefix   outcome after ReviewDelay
//	reject              REJECTED
//	resubmit            NEED_RESUBMIT with the attempts left (2 after the 1st registerUser, 1
//	                    after the 2nd); REJECTED when none are left (after the 3rd)
//	review              stays PENDING until POST /_sandbox/users/{uuid}/status
//	(anything else)     APPROVED_VERIFIED
//
// kycProvider is always "JUMIO". getToken in PENDING, REJECTED, APPROVED_VERIFIED or ACCEPTED,
// and registerUser in any status but LV1, are refused with 400 (registerUser repeated with the
// same accountId and workflowId while PENDING is answered 200 again, without a new attempt).
//
// # Errors it produces
//
// API errors have the CPInvalidRequest shape the SDK reads (statusCode is the HTTP status as a
// string, statusMessage its text); token errors have Spring OAuth's shape:
//
//	403 no or wrong api-key   {"statusCode":"403","statusMessage":"Forbidden","additionalStatusCode":"INVALID_API_KEY","additionalStatusMessage":"The api-key header is missing or not valid","tenantName":"sandbox"}
//	403 no or wrong tenant    {"statusCode":"403","statusMessage":"Forbidden","additionalStatusCode":"INVALID_TENANT","additionalStatusMessage":"The tenantName header is missing or not a known tenant","tenantName":"sandbox"}
//	401 no Bearer token       {"error":"invalid_token","error_description":"Full authentication is required to access this resource"}
//	401 unknown/forged token  {"error":"invalid_token","error_description":"Invalid access token"}
//	401 expired token         {"error":"invalid_token","error_description":"Access token expired"}
//	400 wrong password/user   {"error":"invalid_grant","error_description":"Bad credentials"}
//	400 bad refresh token     {"error":"invalid_grant","error_description":"Invalid refresh token"}
//	400 expired refresh token {"error":"invalid_grant","error_description":"Invalid refresh token (expired)"}
//	400 no grant_type         {"error":"invalid_request","error_description":"Missing grant type"}
//	400 other grant_type      {"error":"unsupported_grant_type","error_description":"Unsupported grant type"}
//	400 duplicate username    additionalStatusCode "USERNAME_ALREADY_EXISTS"
//	400 bad request body      additionalStatusCode "INVALID_REQUEST"
//	400 wrong KYC status      additionalStatusCode "KYC_NOT_STARTED", "KYC_ALREADY_SUBMITTED",
//	                          "KYC_ALREADY_APPROVED" or "KYC_REJECTED"
//	404 unknown route         additionalStatusCode "NOT_FOUND"; unknown user (control) "USER_NOT_FOUND"
//	503 injected fault        additionalStatusCode "SERVICE_UNAVAILABLE"
//	429 injected fault        additionalStatusCode "TOO_MANY_REQUESTS" (with Retry-After: 1)
//
// 401 answers also carry WWW-Authenticate: Bearer error="invalid_token", as Spring sends.
// Nothing the emulator writes or logs contains a token or a password.
package cpemu

// Package kycgw embeds the generated API documents so the binaries can serve them. The code
// lives in cmd/, server/, providers/ and internal/.
package kycgw

import _ "embed"

// OpenAPI is the generated OpenAPI (Swagger 2.0) document of the REST gateway.
//
//go:embed gen/openapiv2/kycgw.swagger.json
var OpenAPI []byte

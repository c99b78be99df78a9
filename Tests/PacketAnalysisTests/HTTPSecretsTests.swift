import BulkheadModel
import Foundation
import Testing

@testable import PacketAnalysis

/// Secrets HTTP clients send outside `Authorization`: API keys and tokens in headers of their own, and secrets as URL
/// or form parameters. Real curl requests to nginx are in the capture corpus (make-captures.sh); these tests hold the
/// spellings, the look-alikes that must not be taken, and the lengths as decoded.
@Suite("HTTP secrets in headers and parameters")
struct HTTPSecretsTests {
    func http(_ text: String) -> [Credential] {
        Array(text.utf8).withUnsafeBytes { CredentialExtractor.extract(.http, client: $0) }
    }

    @Test("Vault, Consul, GitLab tokens and API keys in their own headers, any case, each once per flow")
    func headers() {
        let found = self.http(
            "GET /v1/secret/data/db HTTP/1.1\r\nHost: vault:8200\r\nX-Vault-Token: hvs.CAESIJ0tokenvalue\r\n\r\n"
                + "GET /v1/kv/app HTTP/1.1\r\nHost: consul:8500\r\nx-consul-token:\t5f1a-22  \r\n"
                + "X-Vault-Token: hvs.CAESIJ0tokenvalue\r\nx-API-key: k-123456\r\nPRIVATE-TOKEN: glpat-xyz\r\n\r\n")
        #expect(
            found == [
                Credential(
                    kind: "http-token", user: nil, redacted: "token: 21 characters (redacted)",
                    note: "X-Vault-Token header"),
                Credential(
                    kind: "http-token", user: nil, redacted: "token: 7 characters (redacted)",
                    note: "x-consul-token header"),
                Credential(
                    kind: "http-api-key", user: nil, redacted: "key: 8 characters (redacted)", note: "x-API-key header"),
                Credential(
                    kind: "http-token", user: nil, redacted: "token: 9 characters (redacted)",
                    note: "PRIVATE-TOKEN header"),
            ])
    }

    @Test("look-alikes are not secrets: CSRF tokens, a JSON body's keys, a Referer's query, cookies, empty values")
    func lookAlikes() {
        let request =
            "POST /api/orders?page=2 HTTP/1.1\r\nHost: shop:8080\r\nX-CSRF-Token: 1a2b3c\r\nX-Api-Key:   \r\n"
            + "Referer: http://shop/login?token=abcdef123\r\nCookie: session=abc; password=x\r\n"
            + "Content-Type: application/json\r\n\r\n{\"token\": \"abc\", \"x-api-key\": \"k\", \"password=\": 1}"
        #expect(self.http(request).isEmpty)
        // A parameter whose name only ends like one, and text with spaces after the headers.
        #expect(self.http("GET /x?page_token=abcdef123&my_password=1 HTTP/1.1\r\n\r\n").isEmpty)
        #expect(self.http("POST /x HTTP/1.1\r\n\r\nplease send password=123 by mail").isEmpty)
    }

    @Test("a URL's token and a form's client secret and password: the user beside them, lengths as decoded")
    func parameters() {
        #expect(
            self.http("GET /ws?access_token=eyJhbGciOi.e30.sig&v=2 HTTP/1.1\r\nHost: a\r\n\r\n")
                == [
                    Credential(
                        kind: "http-url-secret", user: nil, redacted: "secret: 18 characters (redacted)",
                        note: "access_token in the URL (servers and proxies log it)")
                ])
        #expect(
            self.http(
                "POST /realms/shop/protocol/openid-connect/token HTTP/1.1\r\nHost: keycloak:8080\r\n"
                    + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 76\r\n\r\n"
                    + "grant_type=client_credentials&client_id=orders&client_secret=s3cr3t%2Bx%20y")
                == [
                    Credential(
                        kind: "http-form-secret", user: "orders", redacted: "secret: 10 characters (redacted)",
                        note: "client_secret in a form body")
                ])
        #expect(
            self.http("POST /login HTTP/1.0\n\nusername=al%69ce&password=hunter2")
                == [
                    Credential(
                        kind: "http-form-secret", user: "alice", redacted: "password: 7 characters (redacted)",
                        note: "password in a form body")
                ])
        // Cut inside the value: what was sent so far is what is counted; a name cut before its `=` is nothing.
        #expect(self.http("GET /v1?token=abc").first?.redacted == "secret: 3 characters (redacted)")
        #expect(self.http("GET /v1?tok").isEmpty)
    }

    @Test("a JSON body's password or client secret: the user beside it, escapes counted once; not in headers or text")
    func json() {
        #expect(
            self.http(
                "POST /login HTTP/1.1\r\nHost: grafana:3000\r\nContent-Type: application/json\r\n\r\n"
                    + #"{"user": "admin", "email": "", "Password" : "pa\"ss\u00e9w0rd", "remember": true}"#)
                == [
                    Credential(
                        kind: "http-json-secret", user: "admin", redacted: "password: 10 characters (redacted)",
                        note: "Password in a JSON body")
                ])
        #expect(
            self.http(
                "POST /oauth/token HTTP/1.1\r\n\r\n"
                    + #"[{"client_id":"orders","client_secret":"s3cr3t","grant_type":"client_credentials"}]"#
            )
            .map(\.user) == ["orders"])
        // Not secrets: a number, an empty string, a device's push token, a key in a header, a body that is no JSON.
        #expect(
            self.http(
                "POST /devices HTTP/1.1\r\nX-Note: {\"password\": \"in a header\"}\r\n\r\n"
                    + #"{"password": 8, "passwd": "", "token": "fcm-device-token", "jwt": "e30"}"#
            ).isEmpty)
        #expect(self.http("POST /x HTTP/1.1\r\n\r\nsee {\"password\": \"x\"} in the docs").isEmpty)
    }

    @Test("hostile bodies: thousands of secret-named parameters or members are read once each, a few reported")
    func hostile() {
        let parameters =
            "POST /x HTTP/1.1\r\n\r\n"
            + (0..<2_600).map { "token=" + String(repeating: "a", count: $0 % 40 + 1) }
            .joined(separator: "&")
        let members =
            "POST /x HTTP/1.1\r\n\r\n{"
            + (0..<800).map { "\"password\":\"" + String(repeating: "b", count: $0 % 40 + 1) + "\"" }
            .joined(separator: ",") + "}"
        let fromParameters = self.http(parameters)
        let fromMembers = self.http(members)
        #expect(fromParameters.count == CredentialExtractor.maximumSecretsPerKind)
        #expect(fromMembers.count == CredentialExtractor.maximumSecretsPerKind)
    }

    @Test("h2c: an API key field and a token in :path are found as in HTTP/1")
    func http2() {
        let key = Array("k-123456".utf8)
        let path = Array("/orders?access_token=eyJhbGciOi.e30.sig".utf8)
        // A literal x-api-key (new name), and :path (static name 4) as a literal without indexing.
        let block: [UInt8] =
            [0x00, 9] + Array("x-api-key".utf8) + [UInt8(key.count)] + key + [0x04, UInt8(path.count)] + path
        let found = HTTP2CredentialTests.clientStream(block, split: 5).withUnsafeBytes {
            CredentialExtractor.extract(.http2, client: $0)
        }
        #expect(found.map(\.kind) == ["http-api-key", "http-url-secret"])
        #expect(found.map(\.redacted) == ["key: 8 characters (redacted)", "secret: 18 characters (redacted)"])
    }
}

import BulkheadModel

/// GraphQL over a WebSocket (`graphql-transport-ws`, and Apollo's older `subscriptions-transport-ws`): the client opens
/// with a `connection_init` message whose `payload` carries what the server authenticates the connection by, as the
/// browser cannot set headers on a WebSocket: a bearer token (`Authorization`, `authToken`, `token`), an API key,
/// Hasura's admin secret. Those members are read like an HTTP request's JSON body (``CredentialExtractor``), within the
/// first message only: later messages are the application's own data.
extension CredentialExtractor {
    /// Member names (lowercase) whose string value in a `connection_init` payload is a secret: the JSON body's, and the
    /// names GraphQL servers and clients use for the token (`token`, `authToken`, `Authorization` and its headers).
    static let graphQLInitSecretNames: [[UInt8]] =
        Self.jsonSecretNames
        + ["token", "authtoken", "authorization", "x-hasura-admin-secret", "x-api-key", "api-key"].map {
            Array($0.utf8)
        }

    /// The secrets of a WebSocket client's first message when it is a GraphQL `connection_init` (`client`: the
    /// messages' payloads, one after another).
    package static func graphQLWebSocketInit(_ client: UnsafeRawBufferPointer) -> [Credential] {
        guard let message = Self.firstJSONObject(client), Self.isConnectionInit(client, message) else { return [] }
        var found: [Credential] = []
        Self.forEachOffset(of: 0x3a, in: UnsafeRawBufferPointer(rebasing: client[message])) { relative in
            let colon = message.lowerBound + relative
            guard found.count < Self.maximumSecretsPerKind, let key = Self.jsonKey(client, endingBefore: colon),
                Self.matches(UnsafeRawBufferPointer(rebasing: client[key]), any: Self.graphQLInitSecretNames),
                let value = Self.jsonString(client, after: colon), value.length > 0
            else { return }
            let name = UnsafeRawBufferPointer(rebasing: client[key]).printableText
            // `Authorization: Bearer …`: the token is what follows the scheme.
            var length = value.length
            var secret = name.lowercased().contains("pass") ? "password" : "token"
            if name.lowercased() == "authorization" {
                var start = colon + 1
                while client[start] != 0x22 { start += 1 }
                let text = UnsafeRawBufferPointer(rebasing: client[(start + 1)..<min(value.end, start + 1 + 4096)])
                if let space = text.firstIndex(of: 0x20), space > 0, space < 16 {
                    length = value.length - (space + 1)
                    let scheme = UnsafeRawBufferPointer(rebasing: text.prefix(space)).printableText.lowercased()
                    secret = scheme == "basic" ? "credentials" : "token"
                }
            }
            guard length > 0 else { return }
            let credential = Credential(
                kind: "graphql-ws-init", user: nil, redacted: Self.secretDescription(secret, length),
                note: name + " in connection_init")
            if !found.contains(credential) { found.append(credential) }
        }
        return found
    }

    /// The first JSON object of `bytes` (leading spaces allowed): from its `{` to its matching `}`, strings and their
    /// escapes passed over; nil when it does not start with one or does not end within the bytes.
    static func firstJSONObject(_ bytes: UnsafeRawBufferPointer) -> Range<Int>? {
        var index = 0
        while index < bytes.count, [0x20, 0x09, 0x0d, 0x0a].contains(bytes[index]) { index += 1 }
        guard index < bytes.count, bytes[index] == 0x7b else { return nil }
        let start = index
        var depth = 0
        var inString = false
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                if byte == 0x5c {
                    index += 1
                } else if byte == 0x22 {
                    inString = false
                }
            } else if byte == 0x22 {
                inString = true
            } else if byte == 0x7b || byte == 0x5b {
                depth += 1
            } else if byte == 0x7d || byte == 0x5d {
                depth -= 1
                if depth == 0 { return start..<(index + 1) }
            }
            index += 1
        }
        return nil
    }

    /// Whether the object `message` has `"type": "connection_init"` (at its top level or not: the name is GraphQL's
    /// own).
    static func isConnectionInit(_ bytes: UnsafeRawBufferPointer, _ message: Range<Int>) -> Bool {
        let expected = Array("connection_init".utf8)
        var found = false
        Self.forEachOffset(of: 0x3a, in: UnsafeRawBufferPointer(rebasing: bytes[message])) { relative in
            let colon = message.lowerBound + relative
            guard !found, let key = Self.jsonKey(bytes, endingBefore: colon),
                Self.matches(UnsafeRawBufferPointer(rebasing: bytes[key]), any: [Array("type".utf8)]),
                let value = Self.jsonString(bytes, after: colon), value.length == expected.count
            else { return }
            found = bytes[(value.end - expected.count)..<value.end].elementsEqual(expected)
        }
        return found
    }
}

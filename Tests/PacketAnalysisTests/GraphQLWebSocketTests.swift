import BulkheadModel
import Foundation
import Testing

@testable import PacketAnalysis

/// GraphQL over a WebSocket: the secrets of the client's `connection_init`. The real gql client against a stand-in
/// endpoint is in the capture corpus (`graphql-ws-token.pcap`); these hold the shapes GraphQL clients and servers use,
/// and the messages that must not count.
@Suite("GraphQL over a WebSocket")
struct GraphQLWebSocketTests {
    func secrets(_ text: String) -> [Credential] {
        Array(text.utf8).withUnsafeBytes(CredentialExtractor.graphQLWebSocketInit)
    }

    @Test("connection_init payloads: gql's Authorization, Apollo's authToken, Hasura's admin secret among headers")
    func payloads() {
        // gql's first message, as the capture shows it, and the subscribe after it.
        let gql = secrets(
            #"{"type": "connection_init", "payload": {"Authorization": "Bearer bh-test-graphql-token-4f1a"}}"#
                + #"{"id": "1", "type": "subscribe", "payload": {"query": "subscription { a }"}}"#)
        #expect(
            gql == [
                Credential(
                    kind: "graphql-ws-init", user: nil, redacted: "token: 26 characters (redacted)",
                    note: "Authorization in connection_init")
            ])
        #expect(
            secrets(#"{"type":"connection_init","payload":{"authToken":"abc"}}"#).map(\.note) == [
                "authToken in connection_init"
            ])
        let hasura = secrets(
            #"{"type":"connection_init","payload":{"headers":{"X-Hasura-Admin-Secret":"s3cr3t","content-type":"a"}}}"#)
        #expect(hasura.map(\.redacted) == ["token: 6 characters (redacted)"])
        let basic = secrets(#"{"payload":{"authorization":"Basic YWxpY2U6c2VjcmV0"},"type":"connection_init"}"#)
        #expect(basic.map(\.redacted) == ["credentials: 16 characters (redacted)"])
    }

    @Test("not a connection_init first: nothing; cut short, empty, or no JSON: nothing, and never a crash")
    func lookAlikes() {
        #expect(secrets(#"{"type":"subscribe","payload":{"token":"x"}}"#).isEmpty)
        #expect(secrets(#"{"type":"ka"}{"type":"connection_init","payload":{"token":"x"}}"#).isEmpty)
        #expect(secrets(#"{"type":"connection_init","payload":{"token":"""#).isEmpty)
        #expect(secrets(#"{"type":"connection_init","payload":{"token":""}}"#).isEmpty)
        #expect(secrets(#"{"type":"connection_init","payload":{"authorization":"Bearer "}}"#).isEmpty)
        #expect(secrets("CONNECT\naccept-version:1.2\n\n\u{0}").isEmpty)
        #expect(secrets("").isEmpty)
        #expect(secrets(String(repeating: "{\"a\":[", count: 2000)).isEmpty)
    }

    @Test("a flow: the upgrade, the init through the mask, in any segments; the token never printed")
    func flow() throws {
        let init_ = Array(
            #"{"type": "connection_init", "payload": {"Authorization": "Bearer bh-test-graphql-token-4f1a"}}"#.utf8)
        let ack = Array(#"{"type": "connection_ack"}"#.utf8)
        for segmentSize in [1400, 5] {
            let record = try WebSocketTests.flow(
                [
                    (true, WebSocketTests.upgrade(path: "/graphql", protocols: "graphql-transport-ws")),
                    (false, WebSocketTests.accepted("Sec-WebSocket-Protocol: graphql-transport-ws\r\n")),
                    (true, WebSocketTests.frame(init_, opcode: 1)),
                    (false, WebSocketTests.frame(ack, opcode: 1, mask: nil)),
                ], segmentSize: segmentSize)
            #expect(record.proto == .http, "segments of \(segmentSize)")
            #expect(record.webSocket?.subprotocol == "graphql-transport-ws")
            #expect(record.credentials.map(\.kind) == ["graphql-ws-init"], "segments of \(segmentSize)")
            let encoded = String(decoding: try JSONEncoder().encode(record), as: UTF8.self)
            #expect(!encoded.contains("bh-test-graphql-token-4f1a"))
        }
    }
}

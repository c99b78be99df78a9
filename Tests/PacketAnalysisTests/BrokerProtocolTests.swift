import BulkheadModel
import Foundation
import Testing

@testable import PacketAnalysis

/// MQTT, AMQP 0-9-1 and NATS: classified by content, their logins read without the secret. Real connections from
/// Mosquitto, RabbitMQ and nats-server clients are in the capture corpus (make-broker-captures.sh); these tests hold
/// the shapes a corpus does not: every version and flag, cut and lying messages, look-alikes.
@Suite("Message brokers: MQTT, AMQP, NATS")
struct BrokerProtocolTests {
    func extract(_ proto: ApplicationProtocol, _ bytes: [UInt8]) -> [Credential] {
        bytes.withUnsafeBytes { CredentialExtractor.extract(proto, client: $0) }
    }

    func classify(client: [UInt8], server: [UInt8] = []) -> ApplicationProtocol? {
        client.withUnsafeBytes { first in
            server.withUnsafeBytes { second in
                ProtocolClassifier.classify(first: first, second: second, rolesKnown: true, final: true)?.proto
            }
        }
    }

    let secret = Array("s3cr3t-Pa55".utf8)

    // MARK: - MQTT

    @Test("MQTT 3.1, 3.1.1 and 5 CONNECTs are mqtt; user and password length read past the will and properties")
    func mqttVersions() {
        for level: UInt8 in [3, 4, 5] {
            for will in [false, true] {
                let connect = BrokerMessages.mqttConnect(
                    level: level, user: "sensor-7", password: self.secret, will: will)
                #expect(self.classify(client: connect) == .mqtt, "level \(level), will \(will)")
                #expect(
                    self.extract(.mqtt, connect)
                        == [Credential(kind: "mqtt", user: "sensor-7", redacted: "password: 11 characters (redacted)")],
                    "level \(level), will \(will)")
            }
        }
        // No credentials: mqtt, nothing found. A user name alone is no secret.
        #expect(self.extract(.mqtt, BrokerMessages.mqttConnect(level: 4, user: nil, password: nil)).isEmpty)
        #expect(self.extract(.mqtt, BrokerMessages.mqttConnect(level: 4, user: "sensor-7", password: nil)).isEmpty)
        // MQTT 5 allows a password without a user name.
        #expect(
            self.extract(.mqtt, BrokerMessages.mqttConnect(level: 5, user: nil, password: self.secret))
                == [Credential(kind: "mqtt", user: nil, redacted: "password: 11 characters (redacted)")])
        // A bridge's level has its top bit set (Mosquitto try_private).
        var bridge = BrokerMessages.mqttConnect(level: 4, user: "b", password: self.secret)
        bridge[8] |= 0x80
        #expect(self.classify(client: bridge) == .mqtt)
    }

    @Test("a CONNECT cut short still reports the password it announced; a lying length reads nothing past the bytes")
    func mqttCut() {
        let connect = BrokerMessages.mqttConnect(level: 4, user: "sensor-7", password: self.secret)
        // Cut inside the password: its declared length is known.
        #expect(
            self.extract(.mqtt, Array(connect.dropLast(4))).first?.redacted == "password: 11 characters (redacted)")
        // Cut before the password's length, and inside the user name: the flag is still there.
        #expect(self.extract(.mqtt, Array(connect.dropLast(12))).first?.redacted == "password (redacted)")
        let cutInUser = Array(connect.prefix(connect.count - 16))
        #expect(
            self.extract(.mqtt, cutInUser) == [Credential(kind: "mqtt", user: nil, redacted: "password (redacted)")])
        // Every prefix: never a crash, never the secret.
        for length in 0...connect.count {
            for credential in self.extract(.mqtt, Array(connect.prefix(length))) {
                #expect(!credential.redacted.contains("s3cr3t") && credential.user?.contains("s3cr3t") != true)
            }
        }
        // A client identifier whose length runs past the end: the flags are read, the fields are not.
        var lying = connect
        lying[12] = 0xff
        #expect(self.extract(.mqtt, lying) == [Credential(kind: "mqtt", user: nil, redacted: "password (redacted)")])
    }

    @Test("look-alikes of a CONNECT are not mqtt")
    func mqttLookAlikes() {
        let connect = BrokerMessages.mqttConnect(level: 4, user: "u", password: self.secret)
        var otherName = connect
        otherName[7] = UInt8(ascii: "X")  // "MQTX"
        var reservedFlag = connect
        reservedFlag[9] |= 0x01
        var level6 = connect
        level6[8] = 6
        var mqisdpLevel4 = BrokerMessages.mqttConnect(level: 3, user: "u", password: self.secret)
        mqisdpLevel4[10] = 4
        var publish = connect
        publish[0] = 0x30
        // A remaining length of five 7-bit groups (MQTT allows four).
        let longLength: [UInt8] = [0x10, 0xff, 0xff, 0xff, 0xff, 0x7f] + Array(connect.dropFirst(2))
        for (name, bytes) in [
            ("MQTX", otherName), ("reserved flag", reservedFlag), ("level 6", level6),
            ("MQIsdp at level 4", mqisdpLevel4),
            ("PUBLISH", publish), ("five-byte length", longLength),
        ] {
            #expect(self.classify(client: bytes) != .mqtt, "\(name)")
            #expect(self.extract(.mqtt, bytes).isEmpty, "\(name)")
        }
    }

    // MARK: - AMQP 0-9-1

    @Test("AMQP PLAIN and AMQPLAIN logins: the user, the password's length")
    func amqpLogins() {
        let plain = BrokerMessages.amqpStartOk(
            mechanism: "PLAIN", response: [0] + Array("app".utf8) + [0] + self.secret)
        #expect(self.classify(client: plain) == .amqp)
        #expect(
            self.extract(.amqp, plain)
                == [Credential(kind: "amqp-plain", user: "app", redacted: "password: 11 characters (redacted)")])
        // PLAIN with an authorisation identity first.
        let authzid = BrokerMessages.amqpStartOk(
            mechanism: "PLAIN", response: Array("admin".utf8) + [0] + Array("app".utf8) + [0] + self.secret)
        #expect(self.extract(.amqp, authzid).first?.user == "app")
        let table = BrokerMessages.amqpStartOk(
            mechanism: "AMQPLAIN", response: BrokerMessages.amqpLoginTable(user: "app", password: self.secret))
        #expect(
            self.extract(.amqp, table)
                == [Credential(kind: "amqp-amqplain", user: "app", redacted: "password: 11 characters (redacted)")])
    }

    @Test("AMQP shapes without a readable login: none, or the credentials' length only")
    func amqpOddShapes() {
        // A PLAIN response of another shape: no part of it is named as the user (it could be the password).
        let twoParts = BrokerMessages.amqpStartOk(mechanism: "PLAIN", response: Array("app".utf8) + [0] + self.secret)
        #expect(
            self.extract(.amqp, twoParts)
                == [Credential(kind: "amqp-plain", user: nil, redacted: "credentials: 15 characters (redacted)")])
        // EXTERNAL (the TLS client certificate) carries no secret.
        #expect(self.extract(.amqp, BrokerMessages.amqpStartOk(mechanism: "EXTERNAL", response: [])).isEmpty)
        // A 0-9-1 StartOk after AMQP 1.0's SASL header is not read as one (nor as a sasl-init).
        var amqp10 = BrokerMessages.amqpStartOk(mechanism: "PLAIN", response: [0, 0x61, 0] + self.secret)
        amqp10.replaceSubrange(4..<8, with: [3, 1, 0, 0])
        #expect(self.extract(.amqp, amqp10).isEmpty)
        // A frame size past the end, and every prefix of a real StartOk: no crash, no secret.
        var lying = BrokerMessages.amqpStartOk(mechanism: "PLAIN", response: [0, 0x61, 0] + self.secret)
        lying[11] = 0x7f
        #expect(self.extract(.amqp, lying).isEmpty)
        let full = BrokerMessages.amqpStartOk(
            mechanism: "AMQPLAIN", response: BrokerMessages.amqpLoginTable(user: "app", password: self.secret))
        for length in 0..<full.count {
            for credential in self.extract(.amqp, Array(full.prefix(length))) {
                #expect(!credential.redacted.contains("s3cr3t") && credential.user?.contains("s3cr3t") != true)
            }
        }
    }

    @Test("AMQP 1.0 SASL PLAIN: in sasl-init, or in a sasl-response after an init without one; narrow and wide forms")
    func amqp10Logins() {
        let plain = [0] + Array("app".utf8) + [0] + self.secret
        let expected = [Credential(kind: "amqp-plain", user: "app", redacted: "password: 11 characters (redacted)")]
        for wide in [false, true] {
            let initial = BrokerMessages.amqp10(
                BrokerMessages.amqp10SASLFrame(
                    code: 0x41, fields: [Array("PLAIN".utf8), plain, Array("broker.test".utf8)], symbolFirst: true,
                    wide: wide))
            #expect(self.classify(client: initial) == .amqp)
            #expect(self.extract(.amqp, initial) == expected, "wide \(wide)")
            let later = BrokerMessages.amqp10(
                BrokerMessages.amqp10SASLFrame(
                    code: 0x41, fields: [Array("PLAIN".utf8), nil], symbolFirst: true, wide: wide),
                BrokerMessages.amqp10SASLFrame(code: 0x43, fields: [plain], symbolFirst: false, wide: wide))
            #expect(self.extract(.amqp, later) == expected, "wide \(wide)")
        }
        // No response seen (the capture ends after the init): no evidence that a password crossed.
        let alone = BrokerMessages.amqp10(
            BrokerMessages.amqp10SASLFrame(code: 0x41, fields: [Array("PLAIN".utf8)], symbolFirst: true))
        #expect(self.extract(.amqp, alone).isEmpty)
        // ANONYMOUS's trace string and EXTERNAL are no secrets; a sasl-response without a PLAIN init is not read.
        let anonymous = BrokerMessages.amqp10(
            BrokerMessages.amqp10SASLFrame(
                code: 0x41, fields: [Array("ANONYMOUS".utf8), Array("trace".utf8)], symbolFirst: true))
        #expect(self.extract(.amqp, anonymous).isEmpty)
        let orphan = BrokerMessages.amqp10(
            BrokerMessages.amqp10SASLFrame(code: 0x43, fields: [plain], symbolFirst: false))
        #expect(self.extract(.amqp, orphan).isEmpty)
        // Every prefix, and a frame whose size lies: no crash, no secret.
        let full = BrokerMessages.amqp10(
            BrokerMessages.amqp10SASLFrame(code: 0x41, fields: [Array("PLAIN".utf8), plain], symbolFirst: true))
        for length in 0..<full.count {
            for credential in self.extract(.amqp, Array(full.prefix(length))) {
                #expect(!credential.redacted.contains("s3cr3t") && credential.user?.contains("s3cr3t") != true)
            }
        }
        var lying = full
        lying[8] = 0x7f
        #expect(self.extract(.amqp, lying).isEmpty)
        var badOffset = full
        badOffset[12] = 1  // a data offset below the frame header's two words
        #expect(self.extract(.amqp, badOffset).isEmpty)
    }

    // MARK: - NATS

    @Test("NATS: INFO from the server or CONNECT from the client is nats; user and password, or a token")
    func natsLogins() {
        let password = BrokerMessages.natsConnect(Array(#""user":"orders","pass":"s3cr3t-Pa55""#.utf8))
        #expect(self.classify(client: [], server: Array(BrokerMessages.natsInfo.utf8)) == .nats)
        #expect(self.classify(client: password) == .nats)
        #expect(
            self.extract(.nats, password)
                == [Credential(kind: "nats-password", user: "orders", redacted: "password: 11 characters (redacted)")])
        let token = BrokerMessages.natsConnect(Array(#""auth_token":"s3cr3t-Pa55""#.utf8))
        #expect(
            self.extract(.nats, token)
                == [Credential(kind: "nats-token", user: nil, redacted: "token: 11 characters (redacted)")])
        // Escapes count as the characters they stand for; a user's control characters are shown escaped.
        let escaped = BrokerMessages.natsConnect(Array(#""user":"a\u0007b","pass":"a\"b\\c""#.utf8))
        #expect(
            self.extract(.nats, escaped)
                == [Credential(kind: "nats-password", user: "a\\x07b", redacted: "password: 5 characters (redacted)")])
        // An nkey signature and a user JWT are not secrets on their own; no credentials, nothing reported.
        let nkey = BrokerMessages.natsConnect(Array(#""nkey":"UABC","sig":"c2lnbmF0dXJl","jwt":"eyJ0eXAi""#.utf8))
        #expect(self.extract(.nats, nkey).isEmpty)
        #expect(self.extract(.nats, BrokerMessages.natsConnect(Array(#""pedantic":false"#.utf8))).isEmpty)
    }

    @Test("a NATS CONNECT cut short names credentials only when their field is there, never their value")
    func natsCut() {
        let connect = BrokerMessages.natsConnect(Array(#""user":"orders","pass":"s3cr3t-Pa55""#.utf8))
        let cut = Array(connect.prefix(40))  // inside the password
        #expect(
            self.extract(.nats, cut)
                == [
                    Credential(
                        kind: "nats", user: nil, redacted: "credentials (redacted; the CONNECT was not read whole)")
                ])
        #expect(self.extract(.nats, Array(connect.prefix(20))).isEmpty)  // before "pass"
        #expect(self.extract(.nats, Array("CONNECT {\"pass\": [1, 2]}\r\n".utf8)).isEmpty)
    }

    @Test("HTTP's CONNECT method is still http; NATS's and STOMP's CONNECT are not proxy requests")
    func connectMethods() {
        #expect(
            self.classify(client: Array("CONNECT api.test:443 HTTP/1.1\r\nHost: api.test:443\r\n\r\n".utf8)) == .http)
        #expect(self.classify(client: Array("CONNECT {\"verbose\":false}\r\n".utf8)) == .nats)
        #expect(self.classify(client: BrokerMessages.stompConnect(command: "CONNECT", headers: [])) == .stomp)
        #expect(self.classify(client: [], server: Array("CONNECTED\nversion:1.2\n\n\0".utf8)) == .stomp)
    }

    // MARK: - STOMP

    @Test("STOMP: login and passcode of a CONNECT or STOMP frame, LF or CRLF; none without a passcode")
    func stompLogins() {
        let expected = [Credential(kind: "stomp", user: "app", redacted: "password: 11 characters (redacted)")]
        for command in ["CONNECT", "STOMP"] {
            for newline in ["\n", "\r\n"] {
                let frame = BrokerMessages.stompConnect(
                    command: command, headers: [("login", Array("app".utf8)), ("passcode", self.secret)],
                    newline: newline)
                #expect(self.classify(client: frame) == .stomp, "\(command)")
                #expect(self.extract(.stomp, frame) == expected, "\(command) \(newline.count)")
            }
        }
        // A repeated header: the first counts (STOMP 1.2), whatever the second says.
        let repeated = BrokerMessages.stompConnect(
            headers: [
                ("login", Array("app".utf8)), ("passcode", self.secret), ("login", Array("other".utf8)),
                ("passcode", Array("x".utf8)),
            ])
        #expect(self.extract(.stomp, repeated) == expected)
        // No passcode, an empty one, or one in the body (after the empty line): nothing.
        #expect(self.extract(.stomp, BrokerMessages.stompConnect(headers: [("login", Array("app".utf8))])).isEmpty)
        #expect(self.extract(.stomp, BrokerMessages.stompConnect(headers: [("passcode", [])])).isEmpty)
        let inBody = BrokerMessages.stompConnect(headers: []).dropLast() + Array("passcode:s3cr3t-Pa55\n".utf8) + [0]
        #expect(self.extract(.stomp, Array(inBody)).isEmpty)
        // Another command first is not a login.
        #expect(self.extract(.stomp, Array("SEND\npasscode:s3cr3t-Pa55\n\n\0".utf8)).isEmpty)
        // A passcode without a login: its length, no user.
        #expect(
            self.extract(.stomp, BrokerMessages.stompConnect(headers: [("passcode", self.secret)]))
                == [Credential(kind: "stomp", user: nil, redacted: "password: 11 characters (redacted)")])
    }

    @Test("NATS upgrades in place: the ClientHello right after INFO, the ServerHello after the INFO line")
    func natsHandover() {
        let hello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x10, 0x01] + [UInt8](repeating: 0, count: 16)
        let serverHello: [UInt8] = [0x16, 0x03, 0x03, 0x00, 0x10, 0x02] + [UInt8](repeating: 0, count: 16)
        #expect(hello.withUnsafeBytes { StartTLSDetector.clientHandover(.nats, client: $0) } == 0)
        let info = Array(BrokerMessages.natsInfo.utf8)
        #expect(
            (info + serverHello).withUnsafeBytes { StartTLSDetector.serverHandover(.nats, server: $0) } == info.count)
        // A CONNECT first is no upgrade.
        let connect = BrokerMessages.natsConnect(Array(#""verbose":false"#.utf8))
        #expect((connect + hello).withUnsafeBytes { StartTLSDetector.clientHandover(.nats, client: $0) } == nil)
    }
}

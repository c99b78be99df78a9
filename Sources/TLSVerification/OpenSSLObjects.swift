import BulkheadModel
import CBulkheadOpenSSL
import Certificates
import Foundation

/// A file the battery needs (trust bundle, key, certificate) that cannot be used; names the file.
public typealias TLSFileError = CodedPathError<TLSFileErrorCode>

/// The codes of ``TLSFileError``.
public enum TLSFileErrorCode: String, Sendable {
    case unreadable
    /// Over 16 MB: no PEM file a battery needs is that large.
    case tooLarge = "too-large"
    case noCertificate = "no-certificate"
    /// No PEM private key, or an encrypted one.
    case noPrivateKey = "no-private-key"
    /// The key does not belong to the certificate (or to any certificate of the trust bundle).
    case keyMismatch = "key-mismatch"
}

/// An owned OpenSSL `X509`, freed with the object.
///
/// `@unchecked Sendable`: the certificate is never modified after construction, and OpenSSL's X509 objects
/// are safe to read (and up-reference) from several threads.
public final class X509Certificate: @unchecked Sendable {
    let pointer: OpaquePointer

    /// Takes ownership of `pointer`.
    init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { X509_free(self.pointer) }

    /// The DER encoding (empty if OpenSSL cannot encode it).
    public var der: [UInt8] { OpenSSL.der(of: self.pointer) }

    /// The tolerant summary of this certificate.
    public func summary() -> CertificateSummary? {
        let der = self.der
        return try? der.withUnsafeBytes { try CertificateParser.parse(der: $0) }
    }
}

/// An owned OpenSSL `EVP_PKEY`, freed with the object. Never printed or encoded anywhere.
public final class PrivateKey: @unchecked Sendable {
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { EVP_PKEY_free(self.pointer) }
}

/// A certificate chain (leaf first) and the leaf's private key, ready to present in a handshake.
public struct ClientIdentity: Sendable {
    public var chain: [X509Certificate]
    public var key: PrivateKey

    public init(chain: [X509Certificate], key: PrivateKey) {
        self.chain = chain
        self.key = key
    }

    /// Loads a PEM chain and key, checking that the key belongs to the leaf.
    public static func load(_ files: IdentityFiles) throws(TLSFileError) -> ClientIdentity {
        let chain = try OpenSSL.loadCertificates(path: files.certificate)
        let key = try OpenSSL.loadPrivateKey(path: files.key)
        guard let leaf = chain.first, X509_check_private_key(leaf.pointer, key.pointer) == 1 else {
            ERR_clear_error()
            throw TLSFileError(
                .keyMismatch, path: files.key,
                message: "this private key does not belong to the certificate in \(files.certificate)")
        }
        return ClientIdentity(chain: chain, key: key)
    }
}

/// Small helpers over OpenSSL's C API.
enum OpenSSL {
    static func der(of certificate: OpaquePointer) -> [UInt8] {
        let length = i2d_X509(certificate, nil)
        guard length > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        let written = bytes.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return i2d_X509(certificate, &cursor)
        }
        return written == length ? bytes : []
    }

    /// Every certificate in a PEM file, in order.
    static func loadCertificates(path: String) throws(TLSFileError) -> [X509Certificate] {
        let data = try Self.read(path)
        var certificates: [X509Certificate] = []
        data.withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return }
            defer { BIO_free(bio) }
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
                certificates.append(X509Certificate(owning: certificate))
            }
        }
        ERR_clear_error()
        guard !certificates.isEmpty else {
            throw TLSFileError(.noCertificate, path: path, message: "no PEM certificate in this file")
        }
        return certificates
    }

    /// The private key in a PEM file (unencrypted; an encrypted key is refused rather than prompted for).
    static func loadPrivateKey(path: String) throws(TLSFileError) -> PrivateKey {
        let data = try Self.read(path)
        let key: OpaquePointer? = data.withUnsafeBytes { bytes in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            // A password callback that refuses: an encrypted key must not block on a terminal prompt.
            return PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil)
        }
        ERR_clear_error()
        guard let key else {
            throw TLSFileError(.noPrivateKey, path: path, message: "no unencrypted PEM private key in this file")
        }
        return PrivateKey(owning: key)
    }

    private static func read(_ path: String) throws(TLSFileError) -> Data {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw TLSFileError(.unreadable, path: path, message: "cannot read: \(error.localizedDescription)")
        }
        guard data.count < 16 << 20 else {
            throw TLSFileError(.tooLarge, path: path, message: "larger than 16 MB: not a PEM file")
        }
        return data
    }

    /// RFC 2253 text of an X509_NAME.
    static func name(_ name: OpaquePointer?) -> String {
        guard let name else { return "" }
        let length = i2d_X509_NAME(name, nil)
        guard length > 0 else { return "" }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        _ = bytes.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return i2d_X509_NAME(name, &cursor)
        }
        return bytes.withUnsafeBytes { CertificateParser.distinguishedName(der: $0) } ?? ""
    }

    /// The text of OpenSSL's last error on this thread, and clears the queue.
    static func lastError() -> String {
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0 else { return "unknown OpenSSL error" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

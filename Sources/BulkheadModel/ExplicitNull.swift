/// An optional stored property that is written as an explicit `null` when it has no value.
///
/// Every record Bulkhead writes keeps all its keys, absent values included, so a reader (jq, a schema, a
/// dashboard) can tell "not known" from "not there". Swift's synthesized `Encodable` leaves nil optionals out;
/// marking the property `@ExplicitNull` keeps the synthesized conformance (and its `CodingKeys` order) and writes
/// `null` instead. Reading accepts the key missing or `null` alike. A test holds every model type to this.
@propertyWrapper
public struct ExplicitNull<Wrapped> {
    public var wrappedValue: Wrapped?

    public init(wrappedValue: Wrapped?) {
        self.wrappedValue = wrappedValue
    }
}

extension ExplicitNull: Encodable where Wrapped: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value = self.wrappedValue {
            try container.encode(value)
        } else {
            try container.encodeNil()
        }
    }
}

extension ExplicitNull: Decodable where Wrapped: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        self.wrappedValue = container.decodeNil() ? nil : try container.decode(Wrapped.self)
    }
}

extension KeyedDecodingContainer {
    /// A missing key decodes as nil, as a plain optional's would (the synthesized decoder asks for the key).
    public func decode<Wrapped: Decodable>(_ type: ExplicitNull<Wrapped>.Type, forKey key: Key) throws -> ExplicitNull<
        Wrapped
    > {
        ExplicitNull(wrappedValue: try self.decodeIfPresent(Wrapped.self, forKey: key))
    }
}

extension ExplicitNull: Equatable where Wrapped: Equatable {}
extension ExplicitNull: Hashable where Wrapped: Hashable {}
extension ExplicitNull: Sendable where Wrapped: Sendable {}

import BulkheadModel
import Foundation

/// What `kubectl get namespaces,pods,services,endpointslices,networkpolicies -A -o json` says of a cluster, read
/// from one dump, standard input, or a folder of dumps and manifests (JSON or YAML, several documents per file).
///
/// Kinds other than those five are ignored, with a note; a malformed object is an error naming the file and the
/// JSON path. An object given twice (same kind, namespace and name) keeps its last version, with a note: a folder
/// of manifests may override a dump.
public struct ClusterDump: Codable, Sendable {
    public var namespaces: [KubeNamespace] = []
    public var pods: [KubePod] = []
    public var services: [KubeService] = []
    public var endpointSlices: [KubeEndpointSlice] = []
    public var policies: [NetworkPolicy] = []
    /// The files read (`-` for standard input).
    public var sources: [String] = []
    /// What was ignored or assumed (unknown kinds, namespaces known only from their pods, duplicates).
    public var notes: [String] = []

    /// The largest file read.
    public static let maxFileBytes = 256 << 20

    public init() {}

    /// Reads every path: a file, `-` (standard input), or a folder (its `.json`, `.yaml` and `.yml` files, in name
    /// order, folders included).
    public static func load(paths: [String]) throws(KubernetesError) -> ClusterDump {
        try Self.refuseStandardInputTwice(paths)
        var dump = ClusterDump()
        var ignored: [String: Int] = [:]
        for path in paths {
            for file in try Self.files(at: path) {
                let text: String
                do {
                    // Standard input is read as a file is: up to the limit (not whole, then measured), and UTF-8
                    // checked (not repaired), so the same dump piped or named reads the same or fails the same.
                    let bytes =
                        file == "-"
                        ? try InputFile.standardInput(limit: Self.maxFileBytes)
                        : try InputFile.contents(of: file, limit: Self.maxFileBytes)
                    text = try InputFile.decodeUTF8(bytes, path: file == "-" ? "standard input" : file)
                } catch {
                    throw KubernetesError(.unreadable, path: error.path, message: error.message)
                }
                try dump.add(text: text, file: file, ignored: &ignored)
            }
        }
        dump.finish(ignored: ignored)
        return dump
    }

    /// Refuses `-` given more than once (`k8s diff - -`): standard input can be read only once, and the second read
    /// would be an empty dump, compared as if it were a cluster.
    public static func refuseStandardInputTwice(_ paths: [String]) throws(KubernetesError) {
        guard paths.filter({ $0 == "-" }).count > 1 else { return }
        throw KubernetesError(
            .unreadable, path: "-",
            message: "standard input is given twice; it can be read only once (save one dump to a file)")
    }

    /// Reads dump text (tests, and `load`); `name` only names the source in errors.
    public static func parse(_ text: String, name: String) throws(KubernetesError) -> ClusterDump {
        var dump = ClusterDump()
        var ignored: [String: Int] = [:]
        try dump.add(text: text, file: name, ignored: &ignored)
        dump.finish(ignored: ignored)
        return dump
    }

    /// Merges another dump into this one: later objects replace earlier ones of the same kind, namespace and name.
    public mutating func merge(_ other: ClusterDump) {
        // A namespace the other dump only assumed (from its pods or policies) does not replace one read here.
        let known = Set(self.namespaces.filter { !$0.assumed }.map(\.name))
        for namespace in other.namespaces where !(namespace.assumed && known.contains(namespace.name)) {
            Self.upsert(namespace, into: &self.namespaces, key: \.name)
        }
        for pod in other.pods { Self.upsert(pod, into: &self.pods, key: \.key) }
        for service in other.services { Self.upsert(service, into: &self.services, key: \.key) }
        for slice in other.endpointSlices {
            Self.upsert(slice, into: &self.endpointSlices, key: { "\($0.namespace)/\($0.name)" })
        }
        for policy in other.policies { Self.upsert(policy, into: &self.policies, key: \.key) }
        self.sources += other.sources
        let real = Set(self.namespaces.filter { !$0.assumed }.map(\.name))
        self.notes += other.notes.filter { note in
            !real.contains { note.hasPrefix("namespace \($0) is not in the dump") }
        }
    }

    private static func upsert<T>(_ value: T, into list: inout [T], key: (T) -> String) {
        if let index = list.firstIndex(where: { key($0) == key(value) }) {
            list[index] = value
        } else {
            list.append(value)
        }
    }

    private static func files(at path: String) throws(KubernetesError) -> [String] {
        if path == "-" { return ["-"] }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw KubernetesError(
                .unreadable, path: path, message: InputFile.openProblem(path, errno: ENOENT, writing: false))
        }
        guard isFolder.boolValue else { return [path] }
        guard let walker = FileManager.default.enumerator(atPath: path) else {
            throw KubernetesError(.unreadable, path: path, message: "the folder cannot be read")
        }
        var files: [String] = []
        while let name = walker.nextObject() as? String {
            let last = (name as NSString).lastPathComponent
            if last.hasPrefix(".") {
                walker.skipDescendants()
                continue
            }
            let lower = last.lowercased()
            guard lower.hasSuffix(".json") || lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") else { continue }
            let full = (path as NSString).appendingPathComponent(name)
            var sub: ObjCBool = false
            if FileManager.default.fileExists(atPath: full, isDirectory: &sub), !sub.boolValue { files.append(full) }
        }
        guard !files.isEmpty else {
            throw KubernetesError(.unreadable, path: path, message: "the folder holds no .json, .yaml or .yml file")
        }
        return files.sorted()
    }

    private mutating func add(text: String, file: String, ignored: inout [String: Int]) throws(KubernetesError) {
        self.sources.append(file)
        let documents = try DumpParser.documents(text, path: file)
        // `kubectl get … -o json > cluster.json` leaves an empty file when kubectl fails (credentials, context): read
        // as a cluster without objects, it would be a clean report. An empty list (`"items": []`) is kubectl's own
        // answer, and only noted (``finish(ignored:)``).
        guard documents.contains(where: { $0.value != .null }) else {
            let blank = text.allSatisfy { $0.isWhitespace || $0 == "\u{FEFF}" }
            throw KubernetesError(
                .malformed, path: file == "-" ? "standard input" : file,
                message: blank
                    ? "is empty: not a kubectl dump (a failed `kubectl get … > file` leaves an empty file)"
                    : "holds no Kubernetes object (only empty YAML documents): not a kubectl dump")
        }
        for (index, document) in documents.enumerated() {
            if case .null = document.value { continue }  // an empty document between `---` lines
            let name = documents.count > 1 ? "\(file) (document \(index + 1))" : file
            try self.add(
                object: FieldReader(value: document.value, file: name, path: "", lines: document.lines),
                ignored: &ignored, depth: 0)
        }
    }

    private mutating func add(object: FieldReader, ignored: inout [String: Int], depth: Int) throws(KubernetesError) {
        guard case .object = object.value else {
            throw object.fail("expected a Kubernetes object, found \(object.value.typeName)")
        }
        guard let kind = try object.string("kind") else { throw object.fail("no kind: not a Kubernetes object") }
        let apiVersion = try object.string("apiVersion") ?? ""
        switch kind {
        case "Namespace":
            Self.note(
                replacing: Self.upsertNoting(try Self.namespace(object), into: &self.namespaces, key: \.name),
                &self.notes)
        case "Pod":
            Self.note(replacing: Self.upsertNoting(try Self.pod(object), into: &self.pods, key: \.key), &self.notes)
        case "Service":
            Self.note(
                replacing: Self.upsertNoting(try Self.service(object), into: &self.services, key: \.key), &self.notes)
        case "EndpointSlice":
            let slice = try Self.endpointSlice(object)
            Self.note(
                replacing: Self.upsertNoting(slice, into: &self.endpointSlices, key: { "\($0.namespace)/\($0.name)" }),
                &self.notes)
        case "NetworkPolicy":
            guard apiVersion == "networking.k8s.io/v1" || apiVersion == "extensions/v1beta1" || apiVersion.isEmpty
            else {
                throw object.fail("NetworkPolicy of apiVersion '\(apiVersion)': only networking.k8s.io/v1 is read")
            }
            let policy = try Self.policy(object)
            Self.note(replacing: Self.upsertNoting(policy, into: &self.policies, key: \.key), &self.notes)
        default:
            if kind == "List" || (kind.hasSuffix("List") && object.has("items")) {
                guard depth == 0 else { throw object.fail("a List inside a List") }
                for item in try object.list("items") { try self.add(object: item, ignored: &ignored, depth: depth + 1) }
            } else {
                ignored[kind, default: 0] += 1
            }
        }
    }

    /// Inserts or replaces; returns the key replaced, if any.
    private static func upsertNoting<T>(_ value: T, into list: inout [T], key: (T) -> String) -> String? {
        if let index = list.firstIndex(where: { key($0) == key(value) }) {
            list[index] = value
            return key(value)
        }
        list.append(value)
        return nil
    }

    private static func note(replacing key: String?, _ notes: inout [String]) {
        if let key { notes.append("\(key) was given more than once: the last one read is used") }
    }

    private mutating func finish(ignored: [String: Int]) {
        if self.namespaces.isEmpty && self.pods.isEmpty && self.services.isEmpty && self.endpointSlices.isEmpty
            && self.policies.isEmpty
        {
            self.notes.append(
                "the input holds no namespace, pod, service, endpoint slice or network policy: nothing to evaluate")
        }
        for (kind, count) in ignored.sorted(by: { $0.key < $1.key }) {
            self.notes.append("ignored \(count) object\(count == 1 ? "" : "s") of kind \(kind) (not read by Bulkhead)")
        }
        let known = Set(self.namespaces.map(\.name))
        let referenced = Set(
            self.pods.map(\.namespace) + self.policies.map(\.namespace) + self.services.map(\.namespace))
        for name in referenced.subtracting(known).sorted() {
            self.namespaces.append(KubeNamespace(name: name, labels: [:], assumed: true))
            self.notes.append(
                "namespace \(name) is not in the dump: assumed to carry only its kubernetes.io/metadata.name label")
        }
    }

    // MARK: - Objects

    /// The fields of each level read strictly (``FieldReader/onlyFields(_:of:)``), as the Kubernetes API defines
    /// them: every level of a NetworkPolicy, the objects' metadata (labels select pods) and the ports read. A pod's
    /// and a service's spec hold many more fields than are read and are not checked.
    enum Fields {
        static let object: Set<String> = ["apiVersion", "kind", "metadata", "spec", "status"]
        static let endpointSlice: Set<String> = ["apiVersion", "kind", "metadata", "addressType", "endpoints", "ports"]
        static let metadata: Set<String> = [
            "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
            "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
            "ownerReferences", "finalizers", "managedFields",
        ]
        static let policySpec: Set<String> = ["podSelector", "policyTypes", "ingress", "egress"]
        static let ingressRule: Set<String> = ["from", "ports"]
        static let egressRule: Set<String> = ["to", "ports"]
        static let peer: Set<String> = ["podSelector", "namespaceSelector", "ipBlock"]
        static let ipBlock: Set<String> = ["cidr", "except"]
        static let policyPort: Set<String> = ["protocol", "port", "endPort"]
        static let selector: Set<String> = ["matchLabels", "matchExpressions"]
        static let requirement: Set<String> = ["key", "operator", "values"]
        static let containerPort: Set<String> = ["containerPort", "hostPort", "hostIP", "name", "protocol"]
        static let servicePort: Set<String> = ["name", "protocol", "appProtocol", "port", "targetPort", "nodePort"]
        static let endpointPort: Set<String> = ["name", "protocol", "appProtocol", "port"]
    }

    /// The object's metadata, after checking the object's own fields (`fields`) and the metadata's.
    private static func metadata(_ object: FieldReader, namespaced: Bool, fields: Set<String> = Fields.object)
        throws(KubernetesError) -> (name: String, namespace: String, uid: String?, labels: [String: String])
    {
        try object.onlyFields(fields, of: "the object")
        guard let meta = try object.child("metadata") else { throw object.fail("missing", at: "metadata") }
        try meta.onlyFields(Fields.metadata, of: "metadata")
        let name = try meta.requiredString("name")
        let namespace = namespaced ? (try meta.string("namespace") ?? "default") : ""
        return (name, namespace, try meta.string("uid"), try meta.stringMap("labels"))
    }

    static func namespace(_ object: FieldReader) throws(KubernetesError) -> KubeNamespace {
        let meta = try Self.metadata(object, namespaced: false)
        return KubeNamespace(name: meta.name, uid: meta.uid, labels: meta.labels)
    }

    static func pod(_ object: FieldReader) throws(KubernetesError) -> KubePod {
        let meta = try Self.metadata(object, namespaced: true)
        let spec = try object.child("spec")
        var containers: [KubeContainer] = []
        for container in try spec?.list("containers") ?? [] {
            var ports: [KubeContainerPort] = []
            for port in try container.list("ports") {
                try port.onlyFields(Fields.containerPort, of: "a container port")
                guard let number = try port.port("containerPort") else {
                    throw port.fail("missing", at: "containerPort")
                }
                ports.append(
                    KubeContainerPort(
                        name: try port.string("name"), containerPort: number, proto: try port.proto("protocol"),
                        hostPort: try port.port("hostPort")))
            }
            let security = try container.child("securityContext")
            containers.append(
                KubeContainer(
                    name: try container.string("name") ?? "", image: try container.string("image") ?? "", ports: ports,
                    privileged: try security?.bool("privileged") ?? false,
                    addedCapabilities: try security?.child("capabilities")?.stringList("add") ?? []))
        }
        var hostPaths: [String] = []
        for volume in try spec?.list("volumes") ?? [] {
            if let path = try volume.child("hostPath")?.string("path") { hostPaths.append(path) }
        }
        let status = try object.child("status")
        var ips: [String] = []
        for item in try status?.list("podIPs") ?? [] {
            if let ip = try item.string("ip") { ips.append(ip) }
        }
        if ips.isEmpty, let ip = try status?.string("podIP"), !ip.isEmpty { ips = [ip] }
        for ip in ips where IPAddress(ip) == nil {
            throw (status ?? object).fail("'\(ip)' is not an IP address", at: "podIPs")
        }
        return KubePod(
            namespace: meta.namespace, name: meta.name, uid: meta.uid, labels: meta.labels, ips: ips,
            nodeName: try spec?.string("nodeName"), hostIP: try status?.string("hostIP"),
            hostNetwork: try spec?.bool("hostNetwork") ?? false, phase: try status?.string("phase") ?? "Unknown",
            dnsPolicy: try spec?.string("dnsPolicy") ?? "ClusterFirst", containers: containers, hostPaths: hostPaths)
    }

    private static func servicePorts(_ reader: FieldReader?, key: String, withTarget: Bool) throws(KubernetesError)
        -> [KubeServicePort]
    {
        var ports: [KubeServicePort] = []
        for port in try reader?.list(key) ?? [] {
            try port.onlyFields(
                withTarget ? Fields.servicePort : Fields.endpointPort, of: withTarget ? "a service port" : "a port")
            guard let number = try port.port("port") else { throw port.fail("missing", at: "port") }
            let target = withTarget ? (try port.portReference("targetPort") ?? .number(number)) : .number(number)
            ports.append(
                KubeServicePort(
                    name: try port.string("name"), port: number, proto: try port.proto("protocol"), targetPort: target))
        }
        return ports
    }

    static func service(_ object: FieldReader) throws(KubernetesError) -> KubeService {
        let meta = try Self.metadata(object, namespaced: true)
        let spec = try object.child("spec")
        var ips = try spec?.stringList("clusterIPs") ?? []
        if ips.isEmpty, let ip = try spec?.string("clusterIP"), !ip.isEmpty { ips = [ip] }
        let selector = (spec?.has("selector") ?? false) ? try spec?.stringMap("selector") : nil
        return KubeService(
            namespace: meta.namespace, name: meta.name, selector: selector,
            type: try spec?.string("type") ?? "ClusterIP",
            clusterIPs: ips.filter { $0 != "None" },
            ports: try Self.servicePorts(spec, key: "ports", withTarget: true))
    }

    static func endpointSlice(_ object: FieldReader) throws(KubernetesError) -> KubeEndpointSlice {
        let meta = try Self.metadata(object, namespaced: true, fields: Fields.endpointSlice)
        var addresses: [String] = []
        for endpoint in try object.list("endpoints") { addresses += try endpoint.stringList("addresses") }
        return KubeEndpointSlice(
            namespace: meta.namespace, name: meta.name, serviceName: meta.labels["kubernetes.io/service-name"],
            addresses: addresses, ports: try Self.servicePorts(object, key: "ports", withTarget: false))
    }

    static func selector(_ reader: FieldReader) throws(KubernetesError) -> LabelSelector {
        try reader.onlyFields(Fields.selector, of: "a label selector")
        var requirements: [LabelSelector.Requirement] = []
        for expression in try reader.list("matchExpressions") {
            try expression.onlyFields(Fields.requirement, of: "a selector requirement")
            let key = try expression.requiredString("key")
            let text = try expression.requiredString("operator")
            guard let op = LabelSelector.Requirement.Operator(rawValue: text) else {
                throw expression.fail("'\(text)' is not an operator (In, NotIn, Exists, DoesNotExist)", at: "operator")
            }
            let values = try expression.stringList("values")
            switch op {
            case .in, .notIn:
                guard !values.isEmpty else { throw expression.fail("\(text) needs at least one value", at: "values") }
            case .exists, .doesNotExist:
                guard values.isEmpty else { throw expression.fail("\(text) takes no values", at: "values") }
            }
            requirements.append(.init(key: key, operator: op, values: values))
        }
        return LabelSelector(matchLabels: try reader.stringMap("matchLabels"), matchExpressions: requirements)
    }

    static func policy(_ object: FieldReader) throws(KubernetesError) -> NetworkPolicy {
        let meta = try Self.metadata(object, namespaced: true)
        guard let spec = try object.child("spec") else { throw object.fail("missing", at: "spec") }
        try spec.onlyFields(Fields.policySpec, of: "a NetworkPolicy spec")
        let podSelector = try spec.child("podSelector").map { reader throws(KubernetesError) in
            try Self.selector(reader)
        }
        let ingress = try spec.list("ingress").map { rule throws(KubernetesError) in
            try Self.rule(rule, peersKey: "from")
        }
        let egress = try spec.list("egress").map { rule throws(KubernetesError) in try Self.rule(rule, peersKey: "to") }
        var types: [NetworkPolicy.PolicyType]?
        if spec.has("policyTypes") {
            var list: [NetworkPolicy.PolicyType] = []
            for (index, text) in try spec.stringList("policyTypes").enumerated() {
                guard let type = NetworkPolicy.PolicyType(rawValue: text) else {
                    throw spec.fail("'\(text)' is not a policy type (Ingress, Egress)", at: "policyTypes[\(index)]")
                }
                if !list.contains(type) { list.append(type) }
            }
            // The API server's SetDefaults_NetworkPolicy treats an empty list as an absent one: [] is stored as
            // Ingress (plus Egress with egress rules), so it isolates, not nothing.
            types = list.isEmpty ? nil : list
        }
        return NetworkPolicy(
            namespace: meta.namespace, name: meta.name, podSelector: podSelector ?? LabelSelector(), policyTypes: types,
            ingress: ingress, egress: egress)
    }

    private static func rule(_ reader: FieldReader, peersKey: String) throws(KubernetesError) -> PolicyRule {
        try reader.onlyFields(
            peersKey == "from" ? Fields.ingressRule : Fields.egressRule,
            of: peersKey == "from" ? "an ingress rule" : "an egress rule")
        var peers: [PolicyPeer] = []
        for peer in try reader.list(peersKey) {
            try peer.onlyFields(Fields.peer, of: "a peer")
            let pods = try peer.child("podSelector").map { selector throws(KubernetesError) in
                try Self.selector(selector)
            }
            let namespaces = try peer.child("namespaceSelector").map { selector throws(KubernetesError) in
                try Self.selector(selector)
            }
            var block: IPBlock?
            if let ipBlock = try peer.child("ipBlock") {
                try ipBlock.onlyFields(Fields.ipBlock, of: "an ipBlock")
                let cidr = try ipBlock.requiredString("cidr")
                guard let parsed = CIDR.parse(cidr) else { throw ipBlock.fail("'\(cidr)' is not a CIDR", at: "cidr") }
                let except = try ipBlock.stringList("except")
                for (index, text) in except.enumerated() {
                    guard let inner = CIDR.parse(text), inner.address.isIPv6 == parsed.address.isIPv6,
                        inner.prefix > parsed.prefix, CIDR.contains(cidr, inner.address)
                    else {
                        throw ipBlock.fail("'\(text)' is not a CIDR strictly inside \(cidr)", at: "except[\(index)]")
                    }
                }
                block = IPBlock(cidr: cidr, except: except)
            }
            if block != nil && (pods != nil || namespaces != nil) {
                throw peer.fail("ipBlock cannot be combined with podSelector or namespaceSelector in one peer")
            }
            if block == nil && pods == nil && namespaces == nil {
                throw peer.fail("a peer needs podSelector, namespaceSelector or ipBlock")
            }
            peers.append(PolicyPeer(podSelector: pods, namespaceSelector: namespaces, ipBlock: block))
        }
        var ports: [PolicyPort] = []
        for port in try reader.list("ports") {
            try port.onlyFields(Fields.policyPort, of: "a NetworkPolicy port")
            let reference = try port.portReference("port")
            let endPort = try port.port("endPort")
            if let endPort {
                guard case .number(let start) = reference else {
                    throw port.fail("endPort needs a numeric port", at: "endPort")
                }
                guard endPort >= start else {
                    throw port.fail("endPort \(endPort) is below port \(start)", at: "endPort")
                }
            }
            ports.append(PolicyPort(proto: try port.proto("protocol"), port: reference, endPort: endPort))
        }
        return PolicyRule(peers: peers, ports: ports)
    }
}

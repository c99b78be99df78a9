import BulkheadModel
import Testing

/// The memo that finds a value by the array it was made from (the certificate caches of `analyze`).
@Suite("Values kept by an array's storage")
struct ArrayStorageMemoTests {
    @Test(
        "the same array (and its copies) finds its value; an equal array elsewhere, a changed copy or an empty one does not"
    )
    func identity() {
        var memo = ArrayStorageMemo<String, Int>(limit: 16)
        let list = ["leaf", "intermediate", "root"]
        memo.remember(1, for: list)
        let copy = list  // shares the storage
        #expect(memo.value(for: list) == 1)
        #expect(memo.value(for: copy) == 1)
        // Equal contents in another storage: not this memo's business (the caller's slower path finds it).
        let rebuilt = ["leaf", "intermediate"] + ["root"]
        #expect(memo.value(for: rebuilt) == nil)
        // A change copies the storage first: the changed array is another one.
        var changed = copy
        changed.append("cross-signed")
        #expect(memo.value(for: changed) == nil)
        changed[0] = "other leaf"
        #expect(memo.value(for: changed) == nil)
        #expect(memo.value(for: list) == 1)
        // Empty arrays share one storage: never kept.
        memo.remember(2, for: [])
        #expect(memo.value(for: []) == nil)
    }

    @Test("an array kept stays alive, so a new array cannot take its storage; past the limit the memo starts over")
    func lifetimeAndLimit() {
        var memo = ArrayStorageMemo<Int, Int>(limit: 4)
        for round in 0..<100 {
            // Arrays made and dropped in a loop would reuse storage if the memo did not keep them: each must find
            // its own value or none, never another's.
            let array = [round, round + 1]
            if let found = memo.value(for: array) { #expect(found == round) }
            memo.remember(round, for: array)
            #expect(memo.value(for: array) == round)
        }
        var kept: [[Int]] = []
        for index in 0..<4 {
            kept.append([index])
            memo.remember(index, for: kept[index])
        }
        #expect(memo.value(for: kept[3]) == 3)
        memo.remember(9, for: [9])  // the fifth entry: the memo starts over
        #expect(memo.value(for: kept[0]) == nil)
    }
}

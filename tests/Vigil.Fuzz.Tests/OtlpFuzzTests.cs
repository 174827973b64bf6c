using System.Text;
using CsCheck;
using Microsoft.Extensions.Time.Testing;
using Vigil.Otlp.Json;
using Vigil.Otlp.Wire;
using Vigil.Storage;

namespace Vigil.Fuzz.Tests;

/// <summary>
/// The OTLP decoders on mutants of the seed corpus. The contract under test: a body is either refused
/// as malformed (<see cref="OtlpFormatException"/>, nothing else) or checked, and a checked body is
/// applied without any exception — what the WAL replays must always apply.
/// </summary>
public sealed class OtlpFuzzTests
{
    private static readonly IReadOnlyList<string> JsonSeeds = Corpus.Texts("otlp-json", "*.json");

    /// <summary>JSON fragments that change structure: nesting, numbers at the edges, escapes, a BOM.</summary>
    private static readonly string[] JsonTokens =
    [
        "{", "}", "[", "]", "\"", ",", ":", "null", "-1", "1e400", "18446744073709551616", "-9223372036854775809",
        "\"NaN\"", "\"Infinity\"", "\\u0000", "\\ud800", "\uFEFF", "{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":",
        "{\"arrayValue\":{\"values\":[", "\"offset\":2147483647", "\"scale\":-2147483648", "\"bucketCounts\":[\"18446744073709551615\"]",
    ];

    [Fact]
    public void ProtobufBodies_AreRefusedAsMalformed_OrApplyWithoutThrowing()
    {
        var seeds = JsonSeeds.Select(json => OtlpJsonTranscoder.ToProtobuf(Encoding.UTF8.GetBytes(json))).ToArray();
        var target = new IngestTarget();
        FuzzRun.Run(Mutations.Of(seeds), target.Feed, Convert.ToHexString);
        Assert.True(target.Applied > 0, "no mutant got past the check: the corpus or the mutator is broken");
    }

    [Fact]
    public void JsonBodies_AreRefusedAsMalformed_OrApplyWithoutThrowing()
    {
        var target = new IngestTarget();
        FuzzRun.Run(
            Mutations.OfText(JsonSeeds, JsonTokens),
            json =>
            {
                byte[] protobuf;
                try
                {
                    protobuf = OtlpJsonTranscoder.ToProtobuf(Encoding.UTF8.GetBytes(json));
                }
                catch (OtlpFormatException)
                {
                    return;
                }

                target.Feed(protobuf);
            },
            json => json);
        Assert.True(target.Applied > 0, "no mutant got past the transcoder: the corpus or the mutator is broken");
    }

    /// <summary>A store fed the way the receiver feeds it: check, then apply only what passed.</summary>
    private sealed class IngestTarget
    {
        private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2025, 6, 15, 15, 7, 0, TimeSpan.Zero));
        private OtlpIngest _ingest;
        private int _sinceReset;

        public IngestTarget() => _ingest = NewIngest();

        public int Applied { get; private set; }

        public void Feed(byte[] body)
        {
            try
            {
                _ingest.Check(body);
            }
            catch (OtlpFormatException)
            {
                return;
            }

            var result = _ingest.Apply(body);
            Assert.True(result.Accepted >= 0 && result.Rejected >= 0);
            Assert.True(result.Rejected == 0 || result.ErrorMessage is { Length: > 0 }, "points refused without a reason");
            Applied++;

            // A fresh store now and then, so series limits do not turn every later mutant into a refusal.
            if (++_sinceReset == 500)
            {
                _ingest = NewIngest();
                _sinceReset = 0;
            }
        }

        private OtlpIngest NewIngest() => new(new WindowStore(new WindowStoreOptions(), _clock));
    }
}

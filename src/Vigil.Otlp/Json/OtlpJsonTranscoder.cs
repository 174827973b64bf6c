using System.Buffers;
using System.Text;
using System.Text.Unicode;
using Google.Protobuf;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Wire;

namespace Vigil.Otlp.Json;

/// <summary>
/// OTLP/JSON → protobuf bytes, so JSON requests take the same decode path as binary ones.
/// JSON is the convenience encoding (curl, browsers); its cost is not on the hot path.
/// </summary>
public static class OtlpJsonTranscoder
{
    /// <summary>
    /// The deepest nesting of JSON objects accepted (Google.Protobuf's default, stated here); deeper input is refused
    /// as soon as the parser reaches it. A data point's attribute value sits 8 objects deep and each level of array or
    /// key-value list nesting adds 2 or 3, so this admits more than <see cref="AttributeReader.MaxNesting"/>, which the
    /// protobuf reader then enforces. Unknown fields are skipped without recursion, however deep.
    /// </summary>
    public const int MaxDepth = 100;

    // OTLP/JSON: lowerCamelCase names, int64 as strings or numbers, enums as integers, and receivers
    // must ignore unknown fields (OTLP spec, "JSON Protobuf Encoding").
    private static readonly JsonParser Parser = new(new JsonParser.Settings(MaxDepth).WithIgnoreUnknownFields(true));

    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    /// <exception cref="OtlpFormatException">The body is not OTLP/JSON; the message says what the parser saw.</exception>
    public static byte[] ToProtobuf(ReadOnlySpan<byte> json)
    {
        // A byte order mark is not JSON, but RFC 8259 (§8.1) lets a parser ignore one, and some tools
        // (PowerShell, Windows editors) write it.
        var skipped = json.StartsWith(Utf8Bom) ? Utf8Bom.Length : 0;
        json = json[skipped..];

        // JSON text is UTF-8 (RFC 8259 §8.1); decoding invalid bytes to U+FFFD would change names and labels unseen.
        if (!Utf8.IsValid(json))
        {
            throw new OtlpFormatException($"invalid OTLP/JSON: the body is not valid UTF-8 (byte {skipped + FirstInvalidByte(json)})");
        }

        try
        {
            var request = Parser.Parse<ExportMetricsServiceRequest>(Encoding.UTF8.GetString(json));
            return request.ToByteArray();
        }
        catch (Exception e) when (e is InvalidJsonException or InvalidProtocolBufferException or FormatException)
        {
            // The parser's own words on depth advise raising its limit, which only Vigil's code could do.
            throw new OtlpFormatException(e.Message.StartsWith("Protocol message had too many levels of nesting", StringComparison.Ordinal)
                ? $"invalid OTLP/JSON: objects nested deeper than {MaxDepth} levels"
                : $"invalid OTLP/JSON: {e.Message}");
        }
    }

    /// <summary>Where the first invalid UTF-8 sequence starts (only called once the text is known to hold one).</summary>
    private static int FirstInvalidByte(ReadOnlySpan<byte> text)
    {
        var at = 0;
        while (at < text.Length && Rune.DecodeFromUtf8(text[at..], out _, out var consumed) == OperationStatus.Done)
        {
            at += consumed;
        }

        return at;
    }
}

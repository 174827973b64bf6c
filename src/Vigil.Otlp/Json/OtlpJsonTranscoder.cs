using System.Text;
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

    /// <exception cref="OtlpFormatException">The body is not OTLP/JSON; the message says what the parser saw.</exception>
    public static byte[] ToProtobuf(ReadOnlySpan<byte> json)
    {
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
}

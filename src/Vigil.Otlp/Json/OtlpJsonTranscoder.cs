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
    // OTLP/JSON: lowerCamelCase names, int64 as strings or numbers, enums as integers, and receivers
    // must ignore unknown fields (OTLP spec, "JSON Protobuf Encoding").
    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    /// <exception cref="OtlpFormatException">The body is not OTLP/JSON; the message says what the parser saw.</exception>
    public static byte[] ToProtobuf(ReadOnlySpan<byte> json)
    {
        try
        {
            var request = Parser.Parse<ExportMetricsServiceRequest>(Encoding.UTF8.GetString(json));
            return request.ToByteArray();
        }
        catch (InvalidJsonException e)
        {
            throw new OtlpFormatException($"invalid OTLP/JSON: {e.Message}");
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new OtlpFormatException($"invalid OTLP/JSON: {e.Message}");
        }
        catch (FormatException e)
        {
            throw new OtlpFormatException($"invalid OTLP/JSON: {e.Message}");
        }
    }
}

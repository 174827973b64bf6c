namespace Vigil.RemoteWrite.Wire;

/// <summary>
/// Field numbers of Prometheus remote write 1.0's <c>prometheus.WriteRequest</c> (the protocol's published wire
/// format), as named constants: WriteRequest{timeseries=1}, TimeSeries{labels=1, samples=2}, Label{name=1, value=2},
/// Sample{value=1 (double), timestamp=2 (int64 ms)}.
/// </summary>
internal static class WriteRequestFields
{
    public const int WriteRequestTimeseries = 1;
    public const int TimeSeriesLabels = 1;
    public const int TimeSeriesSamples = 2;
    public const int LabelName = 1;
    public const int LabelValue = 2;
    public const int SampleValue = 1;
    public const int SampleTimestamp = 2;

    public const int WireVarint = 0;
    public const int WireFixed64 = 1;
    public const int WireLengthDelimited = 2;

    public static byte Tag(int field, int wireType) => (byte)((field << 3) | wireType);
}

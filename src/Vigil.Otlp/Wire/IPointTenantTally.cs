namespace Vigil.Otlp.Wire;

/// <summary>
/// Told by a check pass of <see cref="OtlpMetricsReader"/> (no sink) about each resource and each point
/// that passes the content rules, in request order, so points can be counted per tenant during the walk
/// the request gets anyway. The spans point into the request; keep nothing of them past the call.
/// </summary>
public interface IPointTenantTally
{
    void BeginResource(AttributeList resourceAttributes);

    void Point(AttributeList pointAttributes);
}

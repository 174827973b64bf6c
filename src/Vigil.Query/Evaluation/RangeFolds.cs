namespace Vigil.Query.Evaluation;

/// <summary>
/// The functions over time of one series' samples (a subquery's steps), with Prometheus 2.x's formulas: NaN handling of
/// min/max, Welford's variance, irate's counter reset, deriv's least squares.
/// </summary>
internal static class RangeFolds
{
    /// <summary>The function's value, or null where Prometheus gives no sample (irate, idelta, deriv, predict_linear of one sample).</summary>
    /// <param name="times">Unix milliseconds of the samples, ascending.</param>
    /// <param name="evaluationMs">The evaluation time, predict_linear's origin.</param>
    /// <param name="window">The window [start, end] in unix milliseconds, which rate, increase and delta extrapolate to.</param>
    public static double? Fold(string function, List<long> times, List<double> values, double parameter, long evaluationMs, (long Start, long End) window)
    {
        var n = values.Count;
        switch (function)
        {
            case "sum_over_time":
                return Sum(values);
            case "avg_over_time":
                return Sum(values) / n;
            case "count_over_time":
                return n;
            case "last_over_time":
                return values[n - 1];
            case "present_over_time":
                return 1;
            case "min_over_time":
            case "max_over_time":
                // The first sample, replaced by each smaller (larger) one; a NaN is replaced by anything.
                var extreme = values[0];
                foreach (var v in values)
                {
                    if (double.IsNaN(extreme) || (function == "min_over_time" ? v < extreme : v > extreme))
                    {
                        extreme = v;
                    }
                }

                return extreme;
            case "quantile_over_time":
                return Quantile(parameter, [.. values]);
            case "stdvar_over_time":
            case "stddev_over_time":
                double mean = 0, squares = 0;
                for (var i = 0; i < n; i++)
                {
                    var delta = values[i] - mean;
                    mean += delta / (i + 1);
                    squares += delta * (values[i] - mean);
                }

                return function == "stdvar_over_time" ? squares / n : Math.Sqrt(squares / n);
            case "changes":
            case "resets":
                var count = 0;
                for (var i = 1; i < n; i++)
                {
                    var (previous, current) = (values[i - 1], values[i]);
                    if (function == "resets" ? current < previous : current != previous && !(double.IsNaN(current) && double.IsNaN(previous)))
                    {
                        count++;
                    }
                }

                return count;
            case "irate":
            case "idelta":
                if (n < 2)
                {
                    return null;
                }

                var (last, before) = (values[n - 1], values[n - 2]);
                if (function == "idelta")
                {
                    return last - before;
                }

                // A drop is a counter reset: the counter restarted from 0 and reached last.
                return (last < before ? last : last - before) / ((times[n - 1] - times[n - 2]) / 1000.0);
            case "rate":
            case "increase":
            case "delta":
                return n < 2 ? null : Extrapolated(times, values, window, counter: function != "delta", rate: function == "rate");
            case "deriv":
                return n < 2 ? null : LinearRegression(times, values, times[0]).Slope;
            case "predict_linear":
                if (n < 2)
                {
                    return null;
                }

                var (slope, intercept) = LinearRegression(times, values, evaluationMs);
                return (slope * parameter) + intercept;
            default:
                throw new PromQLException($"function {function} is not supported over a subquery");
        }
    }

    /// <summary>
    /// Prometheus 2.x's extrapolated rate, increase and delta: the change between the first and last sample (counters
    /// corrected for resets), extrapolated to the window's edges when they lie within 1.1 average sample intervals, else
    /// by half an interval, and for counters not below zero.
    /// </summary>
    private static double Extrapolated(List<long> times, List<double> values, (long Start, long End) window, bool counter, bool rate)
    {
        var n = values.Count;
        var result = values[n - 1] - values[0];
        if (counter)
        {
            var last = 0.0;
            foreach (var v in values)
            {
                if (v < last)
                {
                    result += last;
                }

                last = v;
            }
        }

        var toStart = (times[0] - window.Start) / 1000.0;
        var toEnd = (window.End - times[n - 1]) / 1000.0;
        var sampled = (times[n - 1] - times[0]) / 1000.0;
        var average = sampled / (n - 1);
        if (counter && result > 0 && values[0] >= 0)
        {
            toStart = Math.Min(toStart, sampled * (values[0] / result));
        }

        var threshold = average * 1.1;
        var interval = sampled + (toStart < threshold ? toStart : average / 2) + (toEnd < threshold ? toEnd : average / 2);
        result *= interval / sampled;
        return rate ? result / ((window.End - window.Start) / 1000.0) : result;
    }

    /// <summary>Prometheus' quantile: rank φ·(n−1) interpolated linearly between its neighbours; φ outside [0, 1] is ±Inf.</summary>
    public static double Quantile(double q, double[] values)
    {
        if (values.Length == 0 || double.IsNaN(q))
        {
            return double.NaN;
        }

        if (q < 0)
        {
            return double.NegativeInfinity;
        }

        if (q > 1)
        {
            return double.PositiveInfinity;
        }

        // Go's sort puts NaN first (less than everything); Array.Sort does the same.
        Array.Sort(values);
        var n = values.Length;
        var rank = q * (n - 1);
        var lower = Math.Max(0, (int)Math.Floor(rank));
        var upper = Math.Min(n - 1, lower + 1);
        var weight = rank - Math.Floor(rank);
        return (values[lower] * (1 - weight)) + (values[upper] * weight);
    }

    private static double Sum(List<double> values)
    {
        var sum = 0.0;
        foreach (var v in values)
        {
            sum += v;
        }

        return sum;
    }

    /// <summary>Least squares over (seconds since <paramref name="originMs"/>, value); constant values have slope 0 (NaN if infinite).</summary>
    private static (double Slope, double Intercept) LinearRegression(List<long> times, List<double> values, long originMs)
    {
        var constant = true;
        double sumX = 0, sumY = 0, sumXY = 0, sumX2 = 0;
        for (var i = 0; i < values.Count; i++)
        {
            constant &= values[i] == values[0];
            var x = (times[i] - originMs) / 1000.0;
            sumX += x;
            sumY += values[i];
            sumXY += x * values[i];
            sumX2 += x * x;
        }

        if (constant)
        {
            return double.IsInfinity(values[0]) ? (double.NaN, double.NaN) : (0, values[0]);
        }

        var n = values.Count;
        var slope = (sumXY - (sumX * sumY / n)) / (sumX2 - (sumX * sumX / n));
        return (slope, (sumY / n) - (slope * sumX / n));
    }
}

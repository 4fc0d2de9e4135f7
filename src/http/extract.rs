//! Extractors whose rejections are problem+json answers with a stable
//! code, as every other bad input is, in place of axum's plain text.

use axum::extract::{FromRequest, FromRequestParts, Request};
use serde::de::DeserializeOwned;

use super::ApiError;

/// Path parameters whose rejection (a value that is not UTF-8 once
/// percent-decoded) is a problem+json answer.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(e) => Err(ApiError::BadRequest {
                code: "invalid_path",
                detail: e.body_text(),
            }),
        }
    }
}

/// A JSON body whose rejection is a problem+json answer.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::JsonRejection;
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::invalid("invalid_body", e.body_text()))
            }
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::Other {
                    status: e.status(),
                    code: "payload_too_large",
                    detail: "a JSON body may be at most 2 MiB".into(),
                })
            }
            Err(e) => Err(ApiError::BadRequest {
                code: "invalid_json",
                detail: e.body_text(),
            }),
        }
    }
}

/// Query parameters whose rejection (a value of the wrong shape) is a
/// problem+json answer.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(e) => Err(ApiError::BadRequest {
                code: "invalid_query",
                detail: e.body_text(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use serde::Deserialize;

    use super::*;

    async fn query<T: DeserializeOwned>(uri: &str) -> Result<T, ApiError> {
        let (mut parts, ()) = Request::builder().uri(uri).body(()).unwrap().into_parts();
        Query::<T>::from_request_parts(&mut parts, &())
            .await
            .map(|Query(q)| q)
    }

    #[derive(Debug, Deserialize)]
    struct Paging {
        limit: u32,
    }

    #[tokio::test]
    async fn a_query_of_the_wrong_shape_is_answered_with_a_stable_code() {
        let refused = query::<Paging>("/v1/notices?limit=many").await.unwrap_err();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert_eq!(refused.code(), "invalid_query");
        let paging = query::<Paging>("/v1/notices?limit=20").await.unwrap();
        assert_eq!(paging.limit, 20);
    }
}
